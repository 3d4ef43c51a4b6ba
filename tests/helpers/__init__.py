"""Helpers shared by test modules.

A helper that more than one test module uses lives here: a test module or a conftest never
imports from another one (conftests may import fixtures from here to register them).
"""
