"""API keys: making and revoking keys, Bearer authentication for the API, rate limits."""
