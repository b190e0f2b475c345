"""Exploration: controlled schedules -- the harness owns the interleaving of worker threads.

``scheduler`` runs one worker at a time between schedule points (``harness.schedule``),
``strategies`` choose who runs next (random, PCT, replay), and ``exploration`` runs many
schedules of a workload, shrinks the first failure and saves it for exact replay.
"""
