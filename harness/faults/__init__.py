"""Faults: what breaks the system on purpose, so a check can be shown to bite.

Loopback fault proxies and the persistence nemesis (outages of Redis and PostgreSQL that
never touch the shared servers), a disorderly delivery channel, the faulty lock client that
sends what a buggy client sends, and known-broken control components. Faults sit above the
system they break and record every injection as history events.
"""
