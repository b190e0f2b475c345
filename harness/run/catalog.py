"""The scenario catalogue -- names, targets and titles -- read without importing a scenario.

``harness list`` runs in a fraction of a second: a scenario module brings the engine, Redis,
PostgreSQL and pytest with it, so its title is read from the module's source when it is a
literal (``SCENARIO = Scenario(name=..., title="...")``), and the module is imported only
when it is not.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util

from harness.errors import ConfigError

SCENARIO_GROUP = "harness.scenarios"


def available() -> dict[str, str]:
    """Scenario targets (``module:SCENARIO``) by name, from the ``harness.scenarios`` entry-point group.

    The packaged scenarios register there exactly as a user's package does (pyproject.toml),
    so there is one registry; a name registered twice is an error naming both targets.
    """
    found: dict[str, str] = {}
    for entry in importlib.metadata.entry_points(group=SCENARIO_GROUP):
        if found.setdefault(entry.name, entry.value) != entry.value:
            raise ConfigError(f"scenario {entry.name!r} is registered twice: {found[entry.name]} and {entry.value}")
    return dict(sorted(found.items()))


def literal_title(target: str) -> str | None:
    """The ``title`` a ``module:NAME`` target's source gives as a literal (None: not found that way)."""
    module, _, attribute = target.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            return None
        with open(spec.origin, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (ImportError, OSError, SyntaxError, ValueError):
        return None  # the import that follows says what is wrong, in the usual one line
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attribute for t in node.targets) \
                and isinstance(node.value, ast.Call):
            title = next((k.value for k in node.value.keywords if k.arg == "title"), None)
            if isinstance(title, ast.Constant) and isinstance(title.value, str):
                return title.value
    return None
