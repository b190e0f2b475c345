"""--stop-on-fail ends a run through the same stop events a signal sets, without a signal's exit code."""

from __future__ import annotations

from harness.run.interrupt import StopRequest


def test_end_sets_every_stop_event_before_and_after_it_and_names_no_signal():
    stop = StopRequest()
    before = stop.event(process=False)
    assert not before.is_set()
    stop.end()
    after = stop.event(process=False)
    assert before.is_set() and after.is_set()
    assert stop.signal_name is None and stop.ended
