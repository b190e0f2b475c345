"""``harness.record``: the recorder a user's own engine writes its history through.

The implementation lives in ``harness.history.record``; this name stays for users' imports.
"""

from harness.history.record import *  # noqa: F403
from harness.history.record import __all__  # noqa: F401
