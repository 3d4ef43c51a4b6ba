"""Pseudonymous subjects: a random id and the credential the visitor holds."""
