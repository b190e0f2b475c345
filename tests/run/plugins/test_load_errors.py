"""Every way a plug-in can be unusable is one error line naming it, exit 2 -- never a traceback or exit 1."""

from __future__ import annotations

import textwrap

import pytest

from harness.cli.main import main

GOOD_AGG = """
class Agg:
    def apply(self, symbol, delta, *, worker, fence_token=None): return "applied"
    def replace(self, symbol, snapshot, *, worker, fence_token=None): return True
    def symbols(self): return {}
"""

# name: (flag, module source or None, plug-in path, text the line must contain)
CASES = {
    "module not found": ("aggregator", None, "no_such_module:factory", "cannot import no_such_module"),
    "syntax error": ("aggregator", "def factory(:\n", "userplug:factory", "syntax error"),
    "module raises on import": ("aggregator", "raise RuntimeError('boom at import')\n", "userplug:factory",
                                "raised RuntimeError: boom at import"),
    "dependency missing": ("aggregator", "import not_installed_dep\n", "userplug:factory", "not_installed_dep"),
    "attribute missing": ("aggregator", "x = 1\n", "userplug:factory", "has no attribute 'factory'"),
    "attribute not callable": ("aggregator", "factory = 42\n", "userplug:factory", "not a factory"),
    "no module:factory form": ("aggregator", None, "justaname", "expected module:factory"),
    "file does not exist": ("aggregator", None, "missing_file.py:factory", "no such file"),
    "factory signature": ("aggregator", "def factory(): return None\n", "userplug:factory", "factory has signature"),
    "factory raises": ("aggregator", "def factory(history): raise ValueError('no config')\n", "userplug:factory",
                       "the factory raised ValueError: no config"),
    "aggregator factory returns 42": ("aggregator", "def factory(history): return 42\n", "userplug:factory",
                                      "returned a int that has no 'replace'"),
    "locks factory returns 42": ("locks", "def factory(config, history): return 42\n", "userplug:factory",
                                 "returned a int"),
    "missing method": ("aggregator", GOOD_AGG.replace("    def symbols(self): return {}\n", "")
                       + "def factory(history): return Agg()\n", "userplug:factory", "has no 'symbols'"),
    "wrong method signature": ("aggregator", GOOD_AGG.replace("*, worker,", "worker_only,")
                               + "def factory(history): return Agg()\n", "userplug:factory",
                               "whose replace() has signature (symbol, snapshot, worker_only"),
    "ledger without apply": ("ledger", "class L:\n    position = None\n    trades = []\n"
                             "def factory(spec): return L()\n", "userplug:factory", "has no 'apply'"),
    "feed returns a list": ("feed", "def factory(spec, seed): return []\n", "userplug:factory", "'__next__'"),
    "engine result without events": ("engine", "def factory(config, locks, *, run_id, history, progress, **kw):\n"
                                     "    return 42\n", "userplug:factory", "has no 'events'"),
    "guardian factory raises": ("guardian", "def factory(specs, limits, **kw): raise KeyError('limits')\n",
                                "userplug:factory", "the factory raised KeyError"),
    "file plug-in syntax error": ("aggregator", "def factory(:\n", "userplug.py:factory", "syntax error"),
    "module exits on import": ("aggregator", "import sys\nsys.exit(3)\n", "userplug:factory",
                               "importing userplug called sys.exit(3)"),
    "factory exits": ("ledger", "import sys\ndef factory(spec): sys.exit(4)\n", "userplug:factory",
                      "the factory raised SystemExit: 4"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_plugin_is_one_line_and_exit_2(case, tmp_path, monkeypatch, capsys):
    flag, source, path, needle = CASES[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "userplug", raising=False)
    if source is not None:
        (tmp_path / "userplug.py").write_text(textwrap.dedent(source))
    code = main(["run", "multi_symbol_stress", "--trades", "2", "--out", str(tmp_path / "run"), f"--{flag}", path])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"harness: error: --{flag} {path}") and needle in err, err
    assert "Traceback" not in err


def test_a_plugin_that_exits_mid_run_is_a_finding_not_the_harness_exit(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "userplug", raising=False)
    (tmp_path / "userplug.py").write_text(textwrap.dedent("""
        import sys
        from harness.system.feed import seeded_feed

        def factory(spec, seed):
            def ticks():
                for tick in seeded_feed(spec, seed):
                    if tick.index == 3:
                        sys.exit(5)
                    yield tick
            return ticks()
    """))
    code = main(["run", "multi_symbol_stress", "--trades", "2", "--out", str(tmp_path / "run"), "--feed",
                 "userplug:factory"])
    captured = capsys.readouterr()
    assert code in (0, 1) and captured.err == "", captured.err  # judged and reported, not the plug-in's exit 5
    history = (tmp_path / "run" / "events.jsonl").read_text()
    assert history.count('"error":"SystemExit: 5"') == 3  # each symbol's worker recorded it
