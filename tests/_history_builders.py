"""The test suite's history builders live in the package (``harness.testing``) so users' tests get them too."""

from harness.testing import *  # noqa: F403
