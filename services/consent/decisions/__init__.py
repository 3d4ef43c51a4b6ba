"""Decisions: the consent decision rule (rule.py) and recording its outcome (service.py)."""
