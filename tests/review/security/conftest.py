"""Reuse the functional-test fixtures (moto, embedded Valkey, stub model, harness)."""

from tests.functional.conftest import (  # noqa: F401  (re-exported fixtures)
    aws_env,
    aws_resources,
    make_harness,
    moto,
    stub,
)
