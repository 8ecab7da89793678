"""Every id and token is minted here.

Ids are either random (a root task) or derived by hashing their parents, so that a replayed turn
produces the same child task, hook session, hook and wait ids, and never creates a second one.

Every id embeds the id of the task it belongs to, which embeds its root: the store derives the
Redis cluster hash tag, and the keys of a hook's task, from the id alone, without a lookup.

- root task  ``t-<26 base32>``
- child task ``<parent task id>.c<16 hex>``     (hash of parent id + spawn key)
- call key   ``call_<turn>_<position>_<8 hex>``  (hash of the tool name and its arguments; stands
  for one tool call wherever a replay must find the same value again)
- session    ``<task id>.s<16 hex>``            (hash of task id + call key + tool name)
- hook       ``<task id>.h<16 hex><8 hex>``     (HMAC of session id + parameter name + type code,
  keyed by the deployment secret: not computable from public inputs; then the code of the hook's
  type, so whoever serves a resolve picks the validator from the id alone)
- wait       ``<task id>.w<16 hex>``            (hash of task id + call key)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re

MAX_ID_LENGTH = 256
#: How deep a task tree may nest (a root is depth 0). Ids grow by 18 characters per level.
MAX_TREE_DEPTH = 8
_HEX = re.compile(r"^[0-9a-f]+$")
_ID_RE = re.compile(
    r"^(t-[a-z2-7]{26})((?:\.c[0-9a-f]{16})*)(\.(?:[sw][0-9a-f]{16}|h[0-9a-f]{16}([0-9a-f]{8})))?$"
)
#: Characters of a hook type's code (the end of each hook id of that type).
HOOK_TYPE_CODE_CHARS = 8
#: The version of a hook's first token (rotating bumps it).
FIRST_TOKEN_VERSION = 1


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def new_root_task_id() -> str:
    """A fresh random root task id (130 random bits)."""
    raw = base64.b32encode(os.urandom(17)).decode().lower().rstrip("=")
    return "t-" + raw[:26]


def root_of(any_id: str) -> str:
    """The root task id embedded in a task, session, hook or wait id.

    Raises:
        ValueError: when the id is not one of ours.
    """
    return _match(any_id).group(1)


def task_of(any_id: str) -> str:
    """The task id a session, hook or wait id belongs to (a task id is its own task).

    Raises:
        ValueError: when the id is not one of ours.
    """
    m = _match(any_id)
    return m.group(1) + m.group(2)


def _match(any_id: str) -> re.Match[str]:
    m = _ID_RE.match(any_id) if len(any_id) <= MAX_ID_LENGTH else None
    if m is None:
        raise ValueError(f"not a factorial_aws id: {any_id[:80]!r}")
    return m


def is_valid_id(any_id: str) -> bool:
    """Whether ``any_id`` has the shape of one of our ids."""
    return len(any_id) <= MAX_ID_LENGTH and _ID_RE.match(any_id) is not None


def is_task_id(any_id: str) -> bool:
    """Whether ``any_id`` is a task id (root or child)."""
    m = _ID_RE.match(any_id) if len(any_id) <= MAX_ID_LENGTH else None
    return m is not None and m.group(3) is None


def depth(task_id: str) -> int:
    """How many spawns below its root a task is (0 for a root)."""
    return _match(task_id).group(2).count(".c")


def child_task_id(parent_task_id: str, key: str) -> str:
    """The deterministic id of the child spawned by ``parent_task_id`` under ``key``.

    Raises:
        ValueError: the parent is already ``MAX_TREE_DEPTH`` levels deep.
    """
    if depth(parent_task_id) >= MAX_TREE_DEPTH:
        raise ValueError(f"task trees nest at most {MAX_TREE_DEPTH} levels deep")
    return f"{task_of(parent_task_id)}.c{_digest('child', parent_task_id, key)}"


def tool_call_key(turn: int, position: int, name: str, arguments: str) -> str:
    """The replay-stable key of a tool call: ``call_<turn>_<position>_<8 hex>``.

    The provider's tool call ids stay in the transcript unchanged (some providers check the ids
    they issued), but they change when a lost turn calls the model again; this key does not when
    the replayed model asks for the same call (same turn, position, tool and arguments), so the
    call keeps its idempotency key, hook session, hook ids and tokens. A different call at the
    same position gets a different key. Arguments are compared as canonical JSON when they parse.
    """
    try:
        args = json.dumps(json.loads(arguments or "{}"), sort_keys=True)
    except ValueError:
        args = arguments
    digest = hashlib.sha256(f"{name}\x00{args}".encode()).hexdigest()[:8]
    return f"call_{turn}_{position}_{digest}"


def hook_session_id(task_id: str, call_key: str, tool_name: str) -> str:
    """The id of the hook session of one tool call (``call_key``: :func:`tool_call_key`)."""
    return f"{task_of(task_id)}.s{_digest('session', task_id, call_key, tool_name)}"


def hook_type_code(qualified_name: str) -> str:
    """The short stable code of a hook type (``module.QualName``), carried at the end of its
    hook ids: the App maps it back to the type, so a resolve is validated without a lookup."""
    digest = hashlib.sha256(f"hook-type\x00{qualified_name}".encode()).hexdigest()
    return digest[:HOOK_TYPE_CODE_CHARS]


def hook_id(session_id: str, param_name: str, secret: bytes, type_code: str) -> str:
    """The id of the hook that feeds ``param_name`` in a hook session, of the type ``type_code``.

    Keyed by the deployment secret: the inputs (task id, tool call, parameter) are not secret, and
    whoever holds one hook's link must not be able to compute the task's other hook ids (and
    read their title, body and schema through the public describe route).

    Raises:
        ValueError: ``type_code`` is not one of :func:`hook_type_code`'s codes.
    """
    if len(type_code) != HOOK_TYPE_CODE_CHARS or not _HEX.match(type_code):
        raise ValueError(f"not a hook type code: {type_code!r}")
    message = f"hook\x00{session_id}\x00{param_name}\x00{type_code}".encode()
    mac = hmac.new(secret, message, hashlib.sha256)
    return f"{task_of(session_id)}.h{mac.hexdigest()[:16]}{type_code}"


def is_hook_id(any_id: str) -> bool:
    """Whether ``any_id`` has the shape of a hook id."""
    return type_code_of(any_id) is not None


def type_code_of(hook_id_: str) -> str | None:
    """The hook type code a hook id ends with; None when it is not a hook id."""
    m = _ID_RE.match(hook_id_) if len(hook_id_) <= MAX_ID_LENGTH else None
    return m.group(4) if m is not None else None


def wait_id(task_id: str, call_key: str) -> str:
    """The id of the wait created by one tool call (``call_key``: :func:`tool_call_key`)."""
    return f"{task_of(task_id)}.w{_digest('wait', task_id, call_key)}"


def hook_token(secret: bytes, hook_id_: str, version: int) -> str:
    """The 256-bit capability token of a hook, derived from the deployment secret.

    Derived rather than random so that a builder replayed after a crash sends the same valid link.
    Rotating the token bumps ``version``.
    """
    mac = hmac.new(secret, f"hook-token:{hook_id_}:{version}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_hash(token: str) -> str:
    """The SHA-256 hex digest of a token: the only form a token is ever stored in."""
    return hashlib.sha256(token.encode()).hexdigest()


def content_hash(text: str) -> str:
    """A short stable digest of some text (used to count distinct verifier candidates)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def idempotent_root_task_id(owner: str, key: str) -> str:
    """The root task id for an idempotency key: the same (owner, key) always names the same task.

    Deriving the id makes idempotent create a single-slot operation: the task's own record is the
    idempotency record, so no global key is needed.
    """
    digest = hashlib.sha256(f"idem\x00{owner}\x00{key}".encode()).digest()
    return "t-" + base64.b32encode(digest).decode().lower()[:26]


def new_secret() -> bytes:
    """A fresh 256-bit secret (the dev server's hook secret when none is configured)."""
    return os.urandom(32)
