"""Conformance checks of the HA document, run against a site."""
