"""The persistence tests' fixtures (real services under unique names, no service URLs leaking in)."""

from tests.system.guardian.conftest import _no_service_urls_in_env, postgres, redis_service, schema  # noqa: F401
