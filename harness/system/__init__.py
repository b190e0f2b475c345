"""The reference system under test: a multi-symbol trading engine and its shared components.

Domain values (``model``), price feeds, the seeded strategy and venue, the ledger, the
metrics aggregator, the engine that runs symbol workers, the risk guardian with its three
persistence layers (``guardian``), the lock services (``locks``), and the ports
(``ports``): the Protocols a user's own component implements to replace any of these.
It depends on ``harness.history`` (to record what it does) and the leaf modules only; it
knows nothing of how it is judged.
"""
