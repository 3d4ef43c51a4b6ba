"""Overt's own views: after the click, funnels, retention, engagement, consent, contacts."""
