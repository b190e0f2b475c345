"""The pytest plugin and harness.testing, used from a user's own project outside this checkout."""

from __future__ import annotations

USER_COMPONENT = '''
from harness.system.aggregator import MetricsAggregator


class MyAggregator(MetricsAggregator):
    """A user's aggregator: the reference one, subclassed."""


class Forgetful(MetricsAggregator):
    """A user's bug: the first delta of each symbol is dropped."""

    def apply(self, symbol, delta, *, worker, fence_token=None):
        if delta.seq == 1:
            return "dropped"
        return super().apply(symbol, delta, worker=worker, fence_token=fence_token)
'''

USER_TEST = '''
from harness.scenarios.multi_symbol_stress import SCENARIO
from harness.testing import FakeClock, gate, clean_events

from my_component import Forgetful, MyAggregator


def test_my_aggregator_passes(harness_scenario):
    verdict = harness_scenario(SCENARIO, trades=4, aggregator=lambda history: MyAggregator(history))
    assert verdict.passed, verdict.command


def test_my_bug_is_caught(harness_scenario):
    verdict = harness_scenario(SCENARIO, trades=4, aggregator=lambda history: Forgetful(history))
    assert not verdict.passed
    assert {g.area: g.status for g in verdict.gates}["MetricsAggregator Accuracy"] == "FAIL"


def test_the_helpers_are_there():
    clock = FakeClock()
    assert clock.advance(1.5) == clock() and clock.seconds() == 1001.5
    assert gate(clean_events(trades=3), "aggregator").status == "PASS"
'''


def test_a_user_project_runs_scenarios_against_its_own_component(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # the user's run is not one of our xdist workers
    pytester.makepyfile(my_component=USER_COMPONENT, test_mine=USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*harness gates*", "*MULTI_SYMBOL_STRESS PASS*", "*MULTI_SYMBOL_STRESS FAIL*"])
