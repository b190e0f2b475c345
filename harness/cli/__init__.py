"""The ``harness`` command: run scenarios as CI gate jobs, re-judge saved histories, serve, drain."""
