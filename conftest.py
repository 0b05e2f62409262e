"""Top-level conftest: loads the suite's pytest plugin for every run."""

pytest_plugins = ["fixtures.plugin", "fixtures.footprint"]
