"""The Guardian API: a read-only HTTP view of a run (live while it goes, or a saved history)."""
