"""Example plug-ins: how to point the harness at your own components."""
