"""Matching an event against a hook's ``match=``: dotted paths, list indexes as numbers, equality.

``{"check_run.head_sha": "abc", "actions.0.value": "approve"}`` holds for an event whose
``event["check_run"]["head_sha"] == "abc"`` and ``event["actions"][0]["value"] == "approve"``.
Values are compared as JSON values (``1`` does not equal ``"1"``; ``True`` does not equal ``1``).
"""

from __future__ import annotations

import hashlib
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
    return json.dumps(dict(match), separators=(",", ":"), sort_keys=True)


def _canonical(value: Any) -> Any:
    """A match value in the form its digest is taken of: an integral float is the integer (JSON
    equality: ``1 == 1.0``), every other scalar as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def shape_of(match: Mapping[str, Any]) -> str:
    """The shape of a match: the JSON list of its sorted paths (the routing index keeps, per
    source, the shapes that open hooks wait with)."""
    return json.dumps(sorted(match), separators=(",", ":"))


def match_digest(match: Mapping[str, Any]) -> str:
    """The digest of a match's canonical text (:func:`match_key` of canonical values): hooks
    waiting on equal matches share it, and an event's values along a shape give the same one."""
    canonical = {path: _canonical(value) for path, value in match.items()}
    return hashlib.sha256(match_key(canonical).encode()).hexdigest()[:32]


def probe(event: Mapping[str, Any], shape: str) -> dict[str, Any] | None:
    """The match an event would satisfy along ``shape`` (path -> the event's value there), or
    None when a path is missing or leads to an object or list (match values are scalars)."""
    found: dict[str, Any] = {}
    for path in json.loads(shape):
        value = lookup(event, path)
        if value is _MISSING or isinstance(value, dict | list):
            return None
        found[path] = value
    return found
