"""Test doubles for the AWS adapter tests."""

from __future__ import annotations

from typing import Any


class Recorder:
    """A stand-in boto3 client that records calls (or fails the test if one is made)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.calls.append((operation, kwargs))
            return {}

        return call
