"""Hook transitions: resolve a hook with its token, expire it, rotate its token; read one hook.

Each transition is one script (see the headers of ``lua/resolve_hook.lua``, ``expire_hook.lua`` and
``rotate_hook_token.lua``). A hook id names its task, so each call is one round trip: the script,
with a dispatch intent for the task pipelined in front of it (the transition may wake the task;
the intent is what lets maintenance re-send a lost turn message). A wrong token and an unknown
hook answer the same (``not_found``), so hook ids cannot be probed.

Each script's reply is decoded into a small frozen dataclass with named fields; outcomes are
values, not exceptions (exceptions are for input that cannot be sent at all, and for the store).
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
    from collections.abc import Sequence
    from datetime import datetime

    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.scripts import IndexOp

MAX_IDEMPOTENCY_KEY_CHARS = 200
_TOKEN_HASH = re.compile(r"^[0-9a-f]{64}$")

ResolveOutcome = Literal[
    "resolved",
    "idempotent",
    "accepted",
    "checked",
    "not_found",
    "already_resolved",
    "expired",
    "cancelled",
    "type_unknown",
    "invalid_signature",
]


@dataclass(frozen=True)
class ResolveResult:
    """What ``resolve_hook`` did (the script's reply, named). Only ``resolved``, ``accepted``
    (unless ``replay``) and ``expired`` with ``seq > 0`` wrote anything.

    - ``resolved``: the payload is stored; ``seq > 0``: the stage is complete and the task
      runnable (send a turn message carrying ``seq``).
    - ``idempotent``: resolved before with the same idempotency key; ``payload`` is the stored one.
    - ``accepted``: the hook is not registered yet (its builder ran, its commit has not landed):
      the payload is kept and applied when it registers; ``replay``: accepted before with the same
      idempotency key, nothing written.
    - ``checked``: a check-only call (no payload) found the token right and the hook open.
    - ``not_found`` (no such hook, or a wrong token: the same answer), ``already_resolved`` (with
      another key, or none), ``expired`` (``seq > 0``: this call expired it and woke the task),
      ``cancelled`` (the hook, or its task, is over).
    - ``invalid_signature``: the right token, but the hook waits on a webhook source whose
      signature this request did not carry (nothing written).
    - ``type_unknown``: never from the store; the control plane's answer for a ``checked`` hook
      whose type its app does not have.
    """

    outcome: ResolveOutcome
    hook_id: str
    task_id: str = ""
    seq: int = 0
    payload: dict[str, Any] | None = None
    replay: bool = False

    @property
    def task_resumed(self) -> bool:
        """Whether this call made the task runnable (a turn message carrying ``seq`` is due)."""
        return self.seq > 0


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
    source: str | None = None
    match: dict[str, Any] | None = None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _hook_fields(sc: StoreContext, hook_id: str) -> dict[str, str]:
    """Every field of a hook hash; {} for no such hook."""
    if not ids.is_hook_id(hook_id):
        return {}
    try:
        raw: dict[bytes | str, bytes | str] = sc.client.hgetall(keys.hook(hook_id))
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise errors.StoreUnavailableError(f"reading hook {hook_id}: {exc}") from exc
    return {_text(k): _text(v) for k, v in raw.items()}


def _task_of(hook_id: str) -> str | None:
    """The task id of a hook, read off the id itself (no round trip); None for a non-hook id."""
    return ids.task_of(hook_id) if ids.is_hook_id(hook_id) else None


def _script_keys(hook_id: str, task_id: str) -> list[str]:
    return [keys.hook(hook_id), keys.task(task_id), keys.inbox(task_id), keys.events(task_id)]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def payload_json(sc: StoreContext, payload: dict[str, Any] | bytes | str) -> tuple[str, Any]:
    """The compact JSON text a hook payload is stored as, and its decoded value.

    Raises:
        PayloadTooLargeError: over ``max_payload_bytes`` (as given, or encoded).
        HookPayloadInvalidError: text that is not JSON, or a value JSON cannot hold.
    """
    cap = sc.settings.max_payload_bytes
    value: Any = payload
    if isinstance(payload, str | bytes):
        raw = payload if isinstance(payload, bytes) else payload.encode("utf-8", "surrogatepass")
        if len(raw) > cap:
            raise errors.PayloadTooLargeError(f"hook payload is over {cap} bytes")
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise errors.HookPayloadInvalidError("payload is not valid JSON") from exc
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise errors.HookPayloadInvalidError(f"payload is not JSON-serializable: {exc}") from exc
    if size > cap:
        raise errors.PayloadTooLargeError(f"hook payload is over {cap} bytes")
    return text, value


def resolve_hook(
    sc: StoreContext,
    hook_id: str,
    payload_text: str | None,
    token: str,
    idempotency_key: str | None = None,
    *,
    early_token: bool = False,
    sources: Sequence[str] = (),
    index: Sequence[IndexOp] = (),
) -> ResolveResult:
    """Resolve a ``requested`` hook, presented with its token, with a payload already validated
    by the hook's type (``payload_text`` from :func:`payload_json`; None: check only).

    ``early_token``: the token is the hook id's version-1 token (``ids.hook_token``), so a hook
    that is not registered yet may be ``accepted`` (its task must exist and not be finished).

    ``sources``: the webhook sources whose signature the caller verified on this request. With
    an empty ``token`` they are the credential (a registered hook whose ``source=`` is one of
    them); with a token, a hook that has a source also needs it here. ``index``: global index
    operations pipelined in front (the webhook route drops the hook's routing entry).

    Raises:
        InvalidInputError: an idempotency key over ``MAX_IDEMPOTENCY_KEY_CHARS``.
        ContextTooLargeError: the payload would take the task's context over its cap.
    """
    if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise errors.InvalidInputError(
            f"idempotency key over {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        )
    task_id = _task_of(hook_id)
    if task_id is None:
        return ResolveResult("not_found", hook_id)
    args = [
        sc.now_arg(),
        ids.token_hash(token) if token else "",
        payload_text or "",
        idempotency_key or "",
        "1" if early_token else "0",
        max(sc.settings.early_resolve_ttl_s * 1000, 2 * sc.settings.lease_ms),
        sc.settings.max_context_bytes,
        " ".join(sources),
    ]
    res = sc.scripts.call_indexed(
        "resolve_hook",
        [*_script_keys(hook_id, task_id), keys.registry(task_id)],
        args,
        [*index, dispatch_intent(sc, task_id)],
    )
    return _resolve_reply(hook_id, res, payload_text)


def _resolve_reply(hook_id: str, res: list[Any], payload_text: str | None) -> ResolveResult:
    outcome = res[0]
    if outcome == "not_found":
        return ResolveResult("not_found", hook_id)
    task_id = res[1]
    if outcome == "resolved":
        return ResolveResult(outcome, hook_id, task_id, int(res[2]), json.loads(payload_text or ""))
    if outcome == "idempotent":
        return ResolveResult(outcome, hook_id, task_id, payload=json.loads(res[2]))
    if outcome == "accepted":
        replay = res[2] == "replay"
        payload = None if replay else json.loads(payload_text or "")
        return ResolveResult(outcome, hook_id, task_id, payload=payload, replay=replay)
    if outcome == "expired":
        return ResolveResult(outcome, hook_id, task_id, int(res[2]) if len(res) > 2 else 0)
    if outcome == "too_large":
        raise errors.ContextTooLargeError(
            f"hook {hook_id}: this payload would take task {task_id}'s context to {res[2]} "
            "bytes, over its cap"
        )
    if outcome in ("checked", "already_resolved", "cancelled", "invalid_signature"):
        return ResolveResult(outcome, hook_id, task_id)
    raise errors.StateCorruptedError(f"resolve_hook on {hook_id}: unexpected outcome {outcome!r}")


def expire_hook(sc: StoreContext, hook_id: str) -> ExpireResult:
    """Expire a ``requested`` hook whose expiry has passed (the maintenance sweep calls this)."""
    task_id = _task_of(hook_id)
    if task_id is None:
        return ExpireResult("not_found")
    res = sc.scripts.call_indexed(
        "expire_hook",
        _script_keys(hook_id, task_id),
        [sc.now_arg()],
        [dispatch_intent(sc, task_id)],
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
    task_id = _task_of(hook_id)
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


def describe_hook(sc: StoreContext, hook_id: str) -> HookView | None:
    """The hook (one ``HGETALL``), or None when there is no such hook (or it is not registered
    yet: an early resolve is all it holds)."""
    f = _hook_fields(sc, hook_id)
    if not f or f.get("status") == "accepted":
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
            schema={},  # the control plane fills it from the hook's type (App.hook_type)
            metadata=json.loads(f.get("meta") or "{}"),
            payload=json.loads(f["payload"]) if f.get("payload") else None,
            created_at=from_ms(f["created"]) if f.get("created") else None,
            resolved_at=from_ms(f["resolved"]) if f.get("resolved") else None,
            token_version=int(f.get("tv") or 1),
            source=f.get("src") or None,
            match=json.loads(f["match"]) if f.get("match") else None,
        )
    except (KeyError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        raise errors.StateCorruptedError(f"hook {hook_id}: malformed record ({exc})") from exc
