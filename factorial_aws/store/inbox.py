"""Parse a task's inbox (what arrived since its last turn) into the engine's ``TurnInput``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from factorial_aws.core.records import ChildOutcome, HookStatus, HookUpdate, TurnInput, Wake
from factorial_aws.errors import StateCorruptedError


def from_ms(ms: int | float | str) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(int(float(ms)) / 1000, tz=UTC)


def parse_inbox(items: list[str]) -> TurnInput:
    """Inbox items (JSON texts, see docs/store.md) -> steering, hook updates and wakes.

    Raises:
        StateCorruptedError: an item that is not one of the documented shapes.
    """
    steering: list[str] = []
    updates: list[HookUpdate] = []
    wakes: list[Wake] = []
    for raw in items:
        try:
            item = json.loads(raw)
            kind = item["k"]
            if kind == "steer":
                steering.append(str(item["text"]))
            elif kind == "hook":
                updates.append(
                    HookUpdate(
                        hook_id=item["hook_id"],
                        status=HookStatus(item["status"]),
                        payload=item.get("payload"),
                    )
                )
            elif kind == "wake":
                children = tuple(ChildOutcome.model_validate(c) for c in item.get("children") or [])
                wakes.append(
                    Wake(
                        wait_id=item["wait_id"],
                        fired_at=from_ms(item["fired_at"]),
                        children=children,
                    )
                )
            else:
                raise ValueError(f"unknown inbox item kind {kind!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise StateCorruptedError(f"malformed inbox item {raw[:200]!r}: {exc}") from exc
    return TurnInput(steering=tuple(steering), hook_updates=tuple(updates), wakes=tuple(wakes))
