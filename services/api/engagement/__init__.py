"""Engagement definitions: the versioned per-site rules for engaged sessions, scores and intent."""
