"""Identification consent tokens: issued while granted, revoked when that consent ends."""
