from tests.integration.conftest import make_stack  # noqa: F401  (re-export the fixture)
