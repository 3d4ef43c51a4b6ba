"""A site's API keys in the web app: made (the secret shown once), listed, revoked; the
same keys and scopes as `overt key` (services.api.keys)."""
