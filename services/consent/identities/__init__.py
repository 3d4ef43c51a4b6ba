"""Tier 2 identities: the sealed link from a subject to a name or address."""
