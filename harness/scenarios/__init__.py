"""The packaged scenarios: each module defines ``SCENARIO`` (see ``harness.run.scenario``).

They ship inside the wheel so ``pip install trading-harness`` can run them, and pytest collects each
file as a test module (the project's ``conftest.py``).
"""
