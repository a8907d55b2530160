"""Probes for the reparam assignment."""
