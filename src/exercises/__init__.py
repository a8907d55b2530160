"""Checks the exercise notebooks import."""
