"""Probes for the custom_functions assignment."""
