"""Identity verification: a site's signed assertion or a visitor's e-mailed link."""
