"""Matching an event against a hook's ``match=``: dotted paths, list indexes as numbers, equality.

``{"check_run.head_sha": "abc", "actions.0.value": "approve"}`` holds for an event whose
``event["check_run"]["head_sha"] == "abc"`` and ``event["actions"][0]["value"] == "approve"``.
Values are compared as JSON values (``1`` does not equal ``"1"``; ``True`` does not equal ``1``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from factorial_aws.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

_MISSING = object()
MAX_KEYS = 8
MAX_PATH = 200


def lookup(event: Any, path: str) -> Any:
    """The value at a dotted ``path`` of ``event``, or a sentinel that equals nothing."""
    node = event
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but 1 != "1" and True != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def matches(event: Mapping[str, Any], match: Mapping[str, Any]) -> bool:
    """Whether every ``path -> value`` of ``match`` holds in ``event``."""
    return all(_same(lookup(event, path), value) for path, value in match.items())


def check_match(match: Mapping[str, Any]) -> dict[str, Any]:
    """A hook's ``match=`` as given, checked: 1-8 keys, each a dotted path of at most 200
    characters with no empty part, each value a JSON scalar."""
    if not 1 <= len(match) <= MAX_KEYS:
        raise InvalidInputError(f"match= takes 1 to {MAX_KEYS} paths")
    checked: dict[str, Any] = {}
    for path, value in match.items():
        if not path or len(path) > MAX_PATH:
            raise InvalidInputError(f"match= path {path!r} must be a non-empty dotted path")
        if any(not part for part in path.split(".")):
            raise InvalidInputError(f"match= path {path!r} has an empty part")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInputError(
                f"match= value for {path!r} must be a string, number, boolean or null"
            )
        checked[path] = value
    return checked


def match_key(match: Mapping[str, Any]) -> str:
    """A canonical text of a match (sorted paths, JSON values): equal matches, equal keys."""
    return json.dumps(dict(sorted(match.items())), separators=(",", ":"), sort_keys=True)
