"""The dev server's state directory, and what a restart recovers.

``StateDir``: the directory (``.factorial/`` under the current directory by default) that holds
the embedded server's data (an append-only file, in ``valkey/``), the hook secret (so a printed
link keeps working after a restart) and a lock: one dev server per state directory. The lock is an
``flock`` on ``lock``, so the kernel releases it when its holder dies, however it dies; the file
also says who holds it (pid and address), for the error the next one prints.

``recover``: at start, every task the store holds is looked at once. A ``queued`` task gets its
turn message again (the in-process queue died with the previous process); a ``running`` task's
turn died with it: when the lock proves that (``force``), it is queued again at once, else when its
lease lapses. Parked tasks need nothing: time waits and hook expiries are in the store's due
indexes, which the maintenance sweep reads every second.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factorial_aws.core import ids
from factorial_aws.core.status import WAITING, TaskStatus
from factorial_aws.store import keys
from factorial_aws.store.reclaim_lapsed_lease import reclaim_lapsed_lease

if TYPE_CHECKING:
    from factorial_aws.runtime.dispatch import Dispatcher
    from factorial_aws.store.base import StoreContext

LOCK_FILE = "lock"
SECRET_FILE = "hook_secret"  # noqa: S105 - a file name, not a secret
VALKEY_DIR = "valkey"
MIN_SECRET_BYTES = 16  # a shorter (damaged) secret file is replaced
_SCAN_COUNT = 1000


class StateDirBusyError(Exception):
    """Another live process holds the state directory."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        who = f"pid {holder.get('pid', '?')}"
        if holder.get("url"):
            who += f", serving {holder['url']}"
        super().__init__(
            f"the state directory {path} is in use by another dev server ({who}); stop it, or "
            "start this one with --state-dir DIR or --ephemeral"
        )


@dataclass
class StateDir:
    """A dev server's state directory, locked while :meth:`acquire` holds it."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path).resolve()
        self._fd: int | None = None

    def valkey_dir(self, *, cluster: bool = False) -> Path:
        """Where the embedded server keeps its data (a cluster-mode server's apart)."""
        return self.path / (VALKEY_DIR + ("-cluster" if cluster else ""))

    def acquire(self) -> StateDir:
        """Create the directory if needed and take its lock.

        Raises:
            StateDirBusyError: another process holds it (the message names its pid and address).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        ignore = self.path / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# factorial-aws dev server state: not for version control\n*\n")
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateDirBusyError(self.path, self._holder()) from None
        self._fd = fd
        self.note_holder(None)
        return self

    def note_holder(self, url: str | None) -> None:
        """Write who holds the lock (this process, serving ``url``) into the lock file."""
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "url": url}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def _holder(self) -> dict[str, Any]:
        try:
            holder = json.loads((self.path / LOCK_FILE).read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def release(self) -> None:
        """Give the lock up (the files stay)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor releases the flock

    def hook_secret(self) -> bytes:
        """The hook secret kept here (created on first use, readable by this user only)."""
        file = self.path / SECRET_FILE
        with contextlib.suppress(OSError, ValueError):
            secret = bytes.fromhex(file.read_text().strip())
            if len(secret) >= MIN_SECRET_BYTES:
                return secret
        secret = ids.new_secret()
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secret.hex() + "\n")
        return secret


@dataclass
class Recovered:
    """What :func:`recover` found and did."""

    parked: int = 0  # waiting on a hook, a time or children: nothing to do
    requeued: int = 0  # queued, their turn message sent again
    rerun: int = 0  # running when the previous process died: queued again and sent
    leased: int = 0  # running, lease not lapsed and not forced: the sweep reclaims them later

    def summary(self) -> str:
        """``resumed 3 parked tasks, re-ran 1 interrupted turn``; empty when nothing was found."""
        parts = []
        if self.parked:
            parts.append(f"resumed {_count(self.parked, 'parked task')}")
        if self.requeued:
            parts.append(f"re-sent {_count(self.requeued, 'queued turn')}")
        if self.rerun:
            parts.append(f"re-ran {_count(self.rerun, 'interrupted turn')}")
        if self.leased:
            parts.append(
                f"{_count(self.leased, 'running turn')} left to its lease (run again if it lapses)"
            )
        return ", ".join(parts)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def task_ids(sc: StoreContext) -> list[str]:
    """Every task id the store holds (a SCAN: for the dev server's start, not a hot path)."""
    found = []
    for raw in sc.client.scan_iter(match=keys.task_pattern(), count=_SCAN_COUNT):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        task_id = keys.task_id_of(key)
        if task_id is not None:
            found.append(task_id)
    return found


def recover(sc: StoreContext, dispatcher: Dispatcher, *, force: bool) -> Recovered:
    """Send again what a previous process's death lost (see the module's docstring).

    Args:
        force: the previous holder of every lease is known dead (the state directory's lock was
            free and the store is this directory's): reclaim running tasks' leases at once.
    """
    out = Recovered()
    now = sc.now_ms()
    for task_id in task_ids(sc):
        fields: list[Any] = sc.client.hmget(
            keys.task(task_id), ["status", "seq", "lease", "queued_at"]
        )
        status, seq, lease, queued_at = (v.decode() if v else "" for v in fields)
        if status == TaskStatus.QUEUED:
            delay_s = max(0, int(queued_at or 0) - now) / 1000  # a retry still backing off
            dispatcher.turn(task_id, int(seq or 0), delay_s)
            out.requeued += 1
        elif status == TaskStatus.RUNNING:
            if not force and int(lease or 0) > now:
                out.leased += 1
                continue
            new_seq = reclaim_lapsed_lease(sc, task_id, force=force)
            if new_seq:
                dispatcher.turn(task_id, new_seq)
                out.rerun += 1
        elif status in WAITING:
            out.parked += 1
    return out
