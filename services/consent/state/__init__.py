"""A subject's consent state per purpose, read from the ledger against the current notice."""
