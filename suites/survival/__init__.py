"""Survivability: faults the topologies promise to survive, under a workload."""
