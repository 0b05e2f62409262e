"""Check modules, one per area; each registers its checks with suites.registry.check."""
