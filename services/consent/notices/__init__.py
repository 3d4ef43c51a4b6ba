"""Purposes and notices: what a site asks consent for, and every published text."""
