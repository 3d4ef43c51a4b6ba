"""Signed consent receipts: built, signed and kept for each decision, verifiable offline."""
