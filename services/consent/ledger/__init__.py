"""The consent ledger: append-only rows hash-chained per site, signed checkpoints, verification."""
