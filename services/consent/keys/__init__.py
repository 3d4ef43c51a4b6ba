"""Per-site keys: the Ed25519 key that signs checkpoints and receipts, the assertion secret."""
