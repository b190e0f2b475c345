"""``harness.ports``: the Protocols a user's own component implements to plug in.

The implementation lives in ``harness.system.ports``; this name stays for users' imports.
"""

from harness.system.ports import *  # noqa: F403
from harness.system.ports import __all__  # noqa: F401
