"""Data-subject rights: history, export and erasure, with their legal deadlines."""
