"""Bring up and deploy the topologies the suite checks."""
