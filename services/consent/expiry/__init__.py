"""Consent expiry: an expired row for each lapsed consent, by an hourly loop."""
