"""The routing index's Lua match (register_webhook_hook.lua, which filters kept early events)
and webhooks/match.py agree on every case: dotted paths, 0-based list indexes, JSON-typed
equality."""

from __future__ import annotations

import json
from typing import Any

import pytest

from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext
from factorial_aws.store.webhooks import route
from factorial_aws.testing import FakeClock
from factorial_aws.webhooks.match import match_digest, matches, shape_of

EVENT: dict[str, Any] = {
    "a": {"b": "x", "n": 1, "f": 1.5, "t": True, "z": None, "s": "1", "0": "key-zero"},
    "actions": [{"value": "approve"}, {"value": "deny"}],
    "list": [10, 20],
    "obj": {"inner": {"deep": "y"}},
}

CASES: list[dict[str, Any]] = [
    {"a.b": "x"},
    {"a.b": "y"},
    {"a.n": 1},
    {"a.n": 1.0},
    {"a.n": "1"},
    {"a.n": True},
    {"a.t": True},
    {"a.t": 1},
    {"a.f": 1.5},
    {"a.z": None},
    {"a.missing": None},
    {"a.s": 1},
    {"a.s": "1"},
    {"a.0": "key-zero"},
    {"actions.0.value": "approve"},
    {"actions.1.value": "approve"},
    {"actions.2.value": "approve"},
    {"list.1": 20},
    {"list.01": 20},
    {"obj.inner.deep": "y"},
    {"obj.inner": "y"},
    {"obj.inner.deep.more": "y"},
    {"a.b": "x", "actions.1.value": "deny"},
    {"a.b": "x", "actions.1.value": "approve"},
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_lua_and_python_agree(redis_client: Any, case: int) -> None:
    match = CASES[case]
    sc = StoreContext(redis_client, clock=FakeClock())
    source = f"agree-{case}"
    kept = route(sc, source, [], EVENT, f"delivery-{case}")
    assert kept.outcome == "kept"
    res = sc.scripts.call(
        "register_webhook_hook",
        [*keys.webhook_keys(source), keys.webhook_match(source, match_digest(match))],
        [sc.now_arg(), "t-x.hook", sc.now_ms() + 60_000, shape_of(match), json.dumps(match)],
    )
    assert res[0] == 1
    assert (len(res[1]) == 1) == matches(EVENT, match), match
