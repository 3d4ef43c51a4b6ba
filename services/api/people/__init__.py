"""People: consented contacts, the outcomes a site reports, and signed webhooks."""
