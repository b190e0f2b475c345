"""The pytest plugin: scenarios as test items, the ``harness_scenario`` and schedule fixtures."""
