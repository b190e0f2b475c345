"""The judge: pure functions of a history, and the gates that turn their facts into a verdict.

``checks`` holds one checker per evidence area, each with its own small reference model
(it never imports the engine, ledger, guardian or aggregator it judges); ``linearizability``
is the Knossos/porcupine-style search the lock checker uses; ``gates`` compares figures with
thresholds; ``areas`` is the one registry naming each area (key, display name, checker,
gate); ``rejudge`` judges a saved history. The judge depends on ``harness.history`` only,
so re-judging a file recorded by any system loads nothing of the system under test.
"""
