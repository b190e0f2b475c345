"""Serving a run over HTTP: the read-only Guardian API, live while the run goes or over a saved history."""
