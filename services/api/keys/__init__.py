"""API keys: the table, making and revoking keys, Bearer authentication, scopes, rate limits."""
