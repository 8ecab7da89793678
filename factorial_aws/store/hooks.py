"""Hook transitions: resolve a hook with its token, expire it, rotate its token; read one hook.

Each transition is one script (see the headers of ``lua/resolve_hook.lua``, ``expire_hook.lua`` and
``rotate_hook_token.lua``). A hook id does not embed its task id, and the scripts must name every
key they touch, so each call first reads the hook's ``task`` field (one read), then runs the
script once, with a dispatch intent for the task pipelined in front of it (the transition may wake
the task; the intent is what lets maintenance re-send a lost turn message). A wrong token and an
unknown hook answer the same (:class:`HookNotFoundError`), so hook ids cannot be probed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from factorial_aws import errors
from factorial_aws.core import ids
from factorial_aws.store import keys
from factorial_aws.store.inbox import from_ms
from factorial_aws.store.tasks import dispatch_intent

if TYPE_CHECKING:
    from datetime import datetime

    from factorial_aws.store.base import StoreContext

MAX_IDEMPOTENCY_KEY_CHARS = 200
_TOKEN_HASH = re.compile(r"^[0-9a-f]{64}$")


def _expired(hook_id: str, task_id: str, seq: int) -> errors.HookExpiredError:
    """The HookExpiredError of ``resolve_hook``, with ``hook_id``, ``task_id``, ``seq`` and
    ``task_resumed`` attributes set (read them with ``getattr``).

    ``seq > 0`` (``task_resumed``): this very call found the hook past its expiry, expired it and
    so woke the task; the caller must send a turn message carrying ``seq``. (Not a subclass: every
    error class has its own ``code``, and this is still ``hook_expired``.)
    """
    exc = errors.HookExpiredError(f"hook {hook_id} has expired")
    attributes = {"hook_id": hook_id, "task_id": task_id, "seq": seq, "task_resumed": seq > 0}
    for name, value in attributes.items():
        setattr(exc, name, value)
    return exc


@dataclass(frozen=True)
class ResolveResult:
    """An accepted resolve; ``task_resumed``: send a turn message carrying ``seq``.

    ``idempotent``: a replay with the same idempotency key; nothing written, stored ``payload``.
    """

    hook_id: str
    task_id: str
    status: Literal["resolved", "idempotent"]
    task_resumed: bool
    seq: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class ExpireResult:
    """What ``expire_hook`` did; only ``expired`` wrote anything (``seq > 0``: it woke the task).

    ``not_due``: not yet; ``not_requested``: resolved/expired/cancelled before; ``cancelled``: its
    task is missing or terminal; ``not_found``: no such hook (``task_id`` is "").
    """

    outcome: Literal["expired", "not_due", "not_requested", "cancelled", "not_found"]
    task_id: str = ""
    seq: int = 0
    expires_at: datetime | None = None  # with ``not_due``: when it will be

    @property
    def expired(self) -> bool:
        """Whether this call expired the hook."""
        return self.outcome == "expired"


@dataclass(frozen=True)
class RotateResult:
    """What ``rotate_hook_token`` did; only ``rotated`` wrote anything.

    ``not_requested``: the hook left ``requested`` (``status`` says how), e.g. a resolve won the
    race; ``stale_version``: ``version`` was not above the stored one (returned in ``version``).
    """

    outcome: Literal["rotated", "not_requested", "stale_version"]
    version: int
    status: str = "requested"

    @property
    def rotated(self) -> bool:
        """Whether the new token hash is now the hook's token."""
        return self.outcome == "rotated"


@dataclass(frozen=True)
class HookView:
    """One hook as its form or API shows it. Never carries a token or a token hash."""

    hook_id: str
    task_id: str
    session_id: str
    status: str
    mode: str
    hook_type: str
    tool: str
    param: str
    title: str
    body: str
    channel: str | None
    expires_at: datetime
    schema: dict[str, Any]
    metadata: dict[str, Any]
    payload: dict[str, Any] | None
    created_at: datetime | None
    resolved_at: datetime | None
    token_version: int


def _is_hook_id(hook_id: str) -> bool:
    return ids.is_valid_id(hook_id) and hook_id.rpartition(".")[2].startswith("h")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _hook_fields(sc: StoreContext, hook_id: str, *names: str) -> dict[str, str]:
    """Fields of a hook hash (all of them when no names are given); {} for no such hook."""
    if not _is_hook_id(hook_id):
        return {}
    key = keys.hook(hook_id)
    try:
        if not names:
            raw: dict[bytes | str, bytes | str] = sc.client.hgetall(key)
            return {_text(k): _text(v) for k, v in raw.items()}
        values: list[bytes | str | None] = sc.client.hmget(key, list(names))
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise errors.StoreUnavailableError(f"reading hook {hook_id}: {exc}") from exc
    return {n: _text(v) for n, v in zip(names, values, strict=True) if v is not None}


def _task_of(sc: StoreContext, hook_id: str) -> str | None:
    """The task id of a hook, read off the id itself (no round trip); None for a non-hook id."""
    return ids.task_of(hook_id) if _is_hook_id(hook_id) else None


def _script_keys(hook_id: str, task_id: str) -> list[str]:
    return [
        keys.hook(hook_id),
        keys.task(task_id),
        keys.inbox(task_id),
        keys.events(task_id),
        keys.schemas(task_id),
    ]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _payload_json(sc: StoreContext, payload: dict[str, Any] | bytes | str) -> str:
    """Compact JSON text of the payload; "" for a text payload that is not JSON (the script then
    answers ``invalid``, after its hook and token checks). Raises PayloadTooLargeError over
    ``max_payload_bytes`` (as given, or encoded), HookPayloadInvalidError for a dict that is not
    JSON-serializable."""
    cap = sc.settings.max_payload_bytes
    value: Any = payload
    if isinstance(payload, str | bytes):
        raw = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogatepass")
        if len(raw) > cap:
            raise errors.PayloadTooLargeError(f"hook payload is over {cap} bytes")
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            return ""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
    except (TypeError, ValueError, RecursionError) as exc:
        if not isinstance(payload, dict):
            return ""
        raise errors.HookPayloadInvalidError(f"payload is not JSON-serializable: {exc}") from exc
    if size > cap:
        raise errors.PayloadTooLargeError(f"hook payload is over {cap} bytes")
    return text


_RESOLVE_ERRORS: dict[str, tuple[type[errors.HookError], str]] = {
    "not_found": (errors.HookNotFoundError, "no hook {hook_id} with this token"),
    "already_resolved": (errors.HookAlreadyResolvedError, "hook {hook_id} was resolved before"),
    "cancelled": (errors.HookCancelledError, "hook {hook_id} was cancelled"),
    "invalid": (errors.HookPayloadInvalidError, "payload does not match hook {hook_id}: {detail}"),
}


def resolve_hook(
    sc: StoreContext,
    hook_id: str,
    payload: dict[str, Any] | bytes | str,
    token: str,
    idempotency_key: str | None = None,
) -> ResolveResult:
    """Resolve a ``requested`` hook with a payload matching its schema, presented with its token.

    Raises:
        PayloadTooLargeError: before anything is sent to the store.
        HookNotFoundError: no such hook, or a wrong token (the same answer for both).
        HookAlreadyResolvedError: resolved before (without the same idempotency key).
        HookExpiredError: expired; its ``task_resumed``/``seq``/``task_id`` attributes say
            whether this call woke the task (see ``_expired``).
        HookCancelledError: the hook or its task was cancelled, or the task is finished.
        HookPayloadInvalidError: the payload is not a JSON object matching the hook's schema.
        ContextTooLargeError: the payload would take the task's context over its cap.
    """
    text = _payload_json(sc, payload)
    if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise errors.InvalidInputError(
            f"idempotency key over {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        )
    task_id = _task_of(sc, hook_id)
    if task_id is None:
        raise errors.HookNotFoundError(f"no hook {hook_id} with this token")
    res = sc.scripts.call_indexed(
        "resolve_hook",
        _script_keys(hook_id, task_id),
        [
            sc.now_arg(),
            ids.token_hash(token),
            text,
            idempotency_key or "",
            sc.settings.max_context_bytes,
        ],
        [dispatch_intent(sc, task_id, "*")],
    )
    outcome = res[0]
    if outcome == "resolved":
        seq = int(res[2])
        return ResolveResult(hook_id, task_id, "resolved", seq > 0, seq, json.loads(text))
    if outcome == "idempotent":
        return ResolveResult(hook_id, task_id, "idempotent", False, 0, json.loads(res[2]))
    if outcome == "expired":
        raise _expired(hook_id, task_id, int(res[2]) if len(res) > 2 else 0)
    if outcome == "too_large":
        raise errors.ContextTooLargeError(
            f"hook {hook_id}: this payload would take task {task_id}'s context to {res[2]} "
            f"bytes, over the cap of {sc.settings.max_context_bytes}"
        )
    if outcome in _RESOLVE_ERRORS:
        error, message = _RESOLVE_ERRORS[outcome]
        raise error(message.format(hook_id=hook_id, detail=res[2] if len(res) > 2 else ""))
    raise errors.StateCorruptedError(f"resolve_hook on {hook_id}: unexpected outcome {outcome!r}")


def expire_hook(sc: StoreContext, hook_id: str) -> ExpireResult:
    """Expire a ``requested`` hook whose expiry has passed (the maintenance sweep calls this)."""
    task_id = _task_of(sc, hook_id)
    if task_id is None:
        return ExpireResult("not_found")
    res = sc.scripts.call_indexed(
        "expire_hook",
        _script_keys(hook_id, task_id)[:4],
        [sc.now_arg()],
        [dispatch_intent(sc, task_id, "*")],
    )
    if res[0] == "expired":
        return ExpireResult("expired", task_id, int(res[2]))
    if res[0] == "not_due":
        return ExpireResult("not_due", task_id, expires_at=from_ms(res[1]))
    if res[0] in ("not_requested", "cancelled", "not_found"):
        return ExpireResult(res[0], task_id)
    raise errors.StateCorruptedError(f"expire_hook on {hook_id}: unexpected outcome {res[0]!r}")


def rotate_hook_token(
    sc: StoreContext,
    hook_id: str,
    new_token_hash: str,
    version: int,
    revoke_previous: bool = True,
) -> RotateResult:
    """Give a ``requested`` hook a new token (by its hash, ``ids.token_hash``) and version.

    With ``revoke_previous=False`` the current token stays valid too (only the latest previous
    one). A hook that already left ``requested`` is not an error: the result says
    ``not_requested`` and nothing is written.

    Raises:
        InvalidInputError: ``new_token_hash`` is not a SHA-256 hex digest, or ``version < 1``.
        HookNotFoundError: no such hook.
    """
    if not _TOKEN_HASH.match(new_token_hash):
        raise errors.InvalidInputError("new_token_hash must be a lowercase SHA-256 hex digest")
    if version < 1:
        raise errors.InvalidInputError("version must be at least 1")
    task_id = _task_of(sc, hook_id)
    if task_id is None:
        raise errors.HookNotFoundError(f"no hook {hook_id}")
    res = sc.scripts.call(
        "rotate_hook_token",
        [keys.hook(hook_id), keys.events(task_id)],
        [sc.now_arg(), new_token_hash, version, "1" if revoke_previous else "0"],
    )
    if res[0] == "not_found":
        raise errors.HookNotFoundError(f"no hook {hook_id}")
    if res[0] == "not_requested":
        return RotateResult("not_requested", version, status=res[1])
    if res[0] in ("rotated", "stale_version"):
        return RotateResult(res[0], int(res[1]))
    raise errors.StateCorruptedError(
        f"rotate_hook_token on {hook_id}: unexpected outcome {res[0]!r}"
    )


def _schema(sc: StoreContext, hook_id: str, schema_id: str) -> dict[str, Any]:
    text: Any = sc.client.hget(keys.schemas(hook_id), schema_id) if schema_id else None
    if not text:
        raise errors.StateCorruptedError(f"hook {hook_id}: no stored schema {schema_id!r}")
    schema: dict[str, Any] = json.loads(text)
    return schema


def describe_hook(sc: StoreContext, hook_id: str) -> HookView | None:
    """The hook (one ``HGETALL``), or None when there is no such hook."""
    f = _hook_fields(sc, hook_id)
    if not f:
        return None
    try:
        return HookView(
            hook_id=hook_id,
            task_id=f["task"],
            session_id=f.get("session", ""),
            status=f["status"],
            mode=f.get("mode", ""),
            hook_type=f.get("type", ""),
            tool=f.get("tool", ""),
            param=f.get("param", ""),
            title=f.get("title", ""),
            body=f.get("body", ""),
            channel=f.get("channel") or None,
            expires_at=from_ms(f["exp"]),
            schema=_schema(sc, hook_id, f.get("schema_id", "")),
            metadata=json.loads(f.get("meta") or "{}"),
            payload=json.loads(f["payload"]) if f.get("payload") else None,
            created_at=from_ms(f["created"]) if f.get("created") else None,
            resolved_at=from_ms(f["resolved"]) if f.get("resolved") else None,
            token_version=int(f.get("tv") or 1),
        )
    except (KeyError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise errors.StateCorruptedError(f"hook {hook_id}: malformed record ({exc})") from exc
