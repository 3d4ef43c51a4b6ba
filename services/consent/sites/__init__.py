"""A site's consent set-up (keys, chain, default notice) on first use, and its public key."""
