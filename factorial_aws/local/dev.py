"""``factorial-aws dev``: the whole product on 127.0.0.1, in one process.

An embedded Valkey server (or ``FACTORIAL_REDIS_URL``), the HTTP API of the deployed stack, turns
run from an in-process queue with real delays by a pool of workers, the scheduler emulated for long
sleeps and cron ticks, the maintenance sweep every second, and each hook's URL printed as it
appears. The model is OpenAI when ``OPENAI_API_KEY`` is set, else a stub that calls one tool and
finishes (said loudly).

With a ``state_dir`` (the CLI's default: ``.factorial/``) the server is durable: the embedded
Valkey keeps an append-only file there and the hook secret is kept there, so a restart keeps every
task, hook and link, and :func:`~factorial_aws.local.state.recover` sends again what the previous
process's death lost. Without one (the default from Python), nothing is kept.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from factorial_aws.aws.api import build_api
from factorial_aws.aws.settings import DevSettings
from factorial_aws.core import ids
from factorial_aws.core.clock import SystemClock
from factorial_aws.llm.openai_client import OpenAIModel
from factorial_aws.local.server import ApiServer, ResolverPool
from factorial_aws.local.stack import LocalStack
from factorial_aws.local.state import Recovered, StateDir, recover
from factorial_aws.runtime.control import Control
from factorial_aws.store.client import connect, is_cluster
from factorial_aws.testing.stub_agent import stub_agent_reply
from factorial_aws.testing.stub_openai import DefaultReply, StubOpenAIServer
from factorial_aws.testing.valkey import EmbeddedValkey

if TYPE_CHECKING:
    from pathlib import Path

    from factorial_aws.agents.agent import App
    from factorial_aws.core.records import QueueMessage

Printer = Callable[[str], None]

#: Turn workers per CPU by default: a turn mostly waits (on the model, on the store).
WORKERS_PER_CPU = 4
MAX_DEFAULT_WORKERS = 32
#: The stub model server remembers this many requests (a long-running dev server stays flat).
STUB_HISTORY = 100


def default_workers() -> int:
    """The turn worker pool's size when none is given: sized to the machine."""
    return max(2, min(MAX_DEFAULT_WORKERS, WORKERS_PER_CPU * (os.cpu_count() or 1)))


@dataclass(frozen=True)
class _SayingControl(Control):
    """The control plane, printing each cancel on the dev server's terminal."""

    say: Printer = print

    def cancel_task(self, task_id: str, reason: str = "cancelled by request") -> tuple[str, ...]:
        cancelled = super().cancel_task(task_id, reason)
        for each in cancelled:
            self.say(f"task {each}: cancelled")
        return cancelled


@dataclass
class DevServer:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager).

    ``state_dir``: keep the state there (durable, locked to this server), else nothing is kept.
    ``workers``: turns run at once (``None``: ``FACTORIAL_DEV_WORKERS``, else
    :func:`default_workers`); two messages of one task never run at once.
    """

    app: App
    host: str = "127.0.0.1"
    port: int = 8000
    settings: DevSettings = field(default_factory=DevSettings)
    cluster: bool = False
    sweep_every_s: float = 1.0
    say: Printer = print
    stub_reply: DefaultReply = stub_agent_reply
    state_dir: Path | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        self._closers: list[Callable[[], Any]] = []
        self._state: StateDir | None = None
        self._embedded = False
        self.recovered = Recovered()
        self._stopping = threading.Event()
        self.stack: LocalStack | None = None
        self.api_server: ApiServer | None = None

    @property
    def base_url(self) -> str:
        """The API's address."""
        assert self.api_server is not None, "not started"
        return self.api_server.base_url

    def start(self) -> DevServer:
        """Start the store, the model, the runtime and the API.

        Raises:
            StateDirBusyError: another dev server holds ``state_dir``.
            OSError: the port cannot be bound.
        """
        if self.state_dir is not None:
            self._state = StateDir(self.state_dir).acquire()
            self._closers.append(self._state.release)
        self.api_server = ApiServer(ResolverPool(self._resolver), self.host, self.port)
        self._closers.append(self.api_server.server_close)
        public = self.settings.public_base_url or self.api_server.base_url
        secret = self._hook_secret()
        self.stack = LocalStack(
            app=self.app,
            client=self._redis(),
            model=self._model(),
            clock=SystemClock(),
            hook_secret=secret,
            public_base_url=public,
        )
        stack = self.stack
        # the control plane the stack wired, printing each cancel too
        wired = {f.name: getattr(stack.control, f.name) for f in fields(Control)}
        stack.control = _SayingControl(**wired, say=self.say)
        self._recover()
        workers = self.workers or self.settings.workers or default_workers()
        stack.queue.start(self._handle, workers=workers)
        self._closers.append(stack.stop)
        threading.Thread(target=self._sweeper, name="factorial-sweep", daemon=True).start()
        self.api_server.start()
        self._closers.append(self.api_server.shutdown)
        if self._state is not None:
            self._state.note_holder(self.base_url)
        agents = ", ".join(sorted(self.app.agents))
        self.say(f"turns: {workers} workers")
        self.say(f"factorial-aws dev: serving {agents} on {self.base_url}")
        return self

    def _resolver(self) -> Any:
        # one per request served at once (ResolverPool): a resolver holds the request it serves
        assert self.stack is not None
        return build_api(self.stack.control, require_iam=False)

    def _hook_secret(self) -> bytes:
        if self.settings.hook_secret:
            return self.settings.hook_secret.encode()
        if self._state is not None:
            return self._state.hook_secret()
        return ids.new_secret()

    def _recover(self) -> None:
        """Send again what a previous process's death lost (nothing to find when ephemeral)."""
        assert self.stack is not None
        if self._state is None and self._embedded:
            return
        # the lock proves the previous holder of this state dir is gone; an external server
        # may be shared, so its leases are left to lapse
        force = self._embedded
        self.recovered = recover(self.stack.store, self.stack.dispatcher, force=force)
        if summary := self.recovered.summary():
            self.say(f"recovered: {summary}")

    def _redis(self) -> Any:
        if self.settings.redis_url:
            client = connect(self.settings.redis_url)
            mode = "cluster mode" if is_cluster(client) else "standalone"
            self.say(f"store: {self.settings.redis_url.split('@')[-1]} ({mode}, detected)")
            kept = f"; the hook secret is kept in {self._state.path}" if self._state else ""
            self.say(
                "state: FACTORIAL_REDIS_URL's server holds it, as durably as that server's own "
                "persistence (appendonly/save) makes it; a turn a stopped dev server left running "
                f"is run again when its lease lapses{kept}"
            )
        else:
            self._embedded = True
            data_dir = self._state.valkey_dir(cluster=self.cluster) if self._state else None
            server = EmbeddedValkey(cluster=self.cluster, data_dir=data_dir).start()
            self._closers.append(server.stop)
            self.say(
                f"store: embedded Valkey on {server.url}{' (cluster mode)' if self.cluster else ''}"
            )
            if self._state is not None:
                self.say(
                    f"state: kept in {self._state.path} (append-only file, hook secret); "
                    "--ephemeral keeps nothing"
                )
            else:
                self.say("state: ephemeral (nothing is kept when this server stops)")
            client = server.client()
        self._closers.append(client.close)
        return client

    def _model(self) -> OpenAIModel:
        if self.settings.openai_api_key:
            where = self.settings.openai_base_url or "api.openai.com"
            self.say(f"model: OpenAI-compatible API at {where}")
            return OpenAIModel(self.settings.openai_api_key, self.settings.openai_base_url)
        stub = StubOpenAIServer(default_reply=self.stub_reply, history=STUB_HISTORY).start()
        self._closers.append(stub.stop)
        what = (
            "the built-in stub model (calls one tool, then finishes)"
            if self.stub_reply is stub_agent_reply
            else "a stub model"
        )
        self.say(f"model: NO OPENAI_API_KEY SET - using {what} at {stub.base_url}")
        return OpenAIModel("stub-key", stub.base_url)

    async def _handle(self, message: QueueMessage) -> str:
        assert self.stack is not None
        outcome = await self.stack.runner.handle(message)
        if outcome == "waiting_hook":
            self._print_hooks(message.task_id)
        elif outcome in ("completed", "failed", "cancelled"):
            self.say(f"task {message.task_id}: {outcome}")
        return outcome

    def _print_hooks(self, task_id: str) -> None:
        assert self.stack is not None
        for h in self.stack.control.get_task(task_id).pending_hooks:
            token = ids.hook_token(self.stack.hook_secret, h.hook_id, 1)
            base = self.stack.public_base_url.rstrip("/")
            self.say(
                f"task {task_id} waits on hook {h.title!r}\n"
                f"  open:    {base}/hooks/{h.hook_id}?token={token}\n"
                f"  resolve: curl -X POST {base}/hooks/{h.hook_id}/resolve "
                f"-H 'X-Hook-Token: {token}' -H 'Content-Type: application/json' -d '{{...}}'"
            )

    def _sweeper(self) -> None:
        while not self._stopping.wait(self.sweep_every_s):
            if self.stack is None:
                continue
            try:
                self.stack.sweep()
            except Exception as exc:  # noqa: BLE001 - keep sweeping; say what went wrong
                self.say(f"maintenance sweep failed: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Stop everything that was started, newest first."""
        self._stopping.set()
        while self._closers:
            with contextlib.suppress(Exception):
                self._closers.pop()()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
