"""The AWS composition root shared by the three Lambda handlers, built once per container.

:func:`container` reads :class:`~factorial_aws.aws.settings.Settings` from the environment on
first use and builds the Redis client, the store context, the SQS turn queue, the EventBridge
scheduler, the dispatcher, the user's :class:`~factorial_aws.agents.agent.App`
(``FACTORIAL_APP``) and the observer. It mirrors
:class:`factorial_aws.local.stack.LocalStack`, with AWS adapters in place of the in-process
queue and scheduler. :func:`build` does the same from given parts (tests inject moto clients,
an embedded Valkey client and a fake clock); :func:`install` makes a build the container's.

What needs a permission only some functions have is built on first use, by the code path that
needs it, so each function's role grants exactly what its handler uses
(``tests/infra/test_iam_simulation.py`` runs every handler under moto with only its role): the hook
secret (Secrets Manager) is read by :attr:`Wiring.hook_secret` when the turn worker or the
control plane is first built (turn and API functions), never by the maintenance sweep; the model
key secret only by the turn function's model client (:meth:`Wiring.model_api_key`).

The model client is not built here: ``handlers/turn.py`` imports ``openai`` lazily and passes a
model to :meth:`Wiring.worker`, so neither this package nor the API and maintenance functions
ever import it. The turn worker keeps one asyncio event loop for the life of the container
(``loop.run_until_complete`` per message): the model client's connection pool is bound to it.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from factorial_aws.agents.agent import App
from factorial_aws.aws import clients
from factorial_aws.aws.observability import (
    ObservedDispatcher,
    Observer,
    TimedModel,
    route_package_logs,
)
from factorial_aws.aws.redis_iam import connect_from_settings
from factorial_aws.aws.scheduler import EventBridgeScheduler
from factorial_aws.aws.secrets import SecretCache, WebhookSecretReader
from factorial_aws.aws.settings import Settings, SettingsError
from factorial_aws.aws.sqs import MalformedQueueMessageError, SqsTurnQueue, parse_body
from factorial_aws.core.clock import SystemClock
from factorial_aws.runtime.control import Control
from factorial_aws.store.base import StoreContext

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from factorial_aws.core.clock import Clock
    from factorial_aws.llm.base import ModelClient
    from factorial_aws.runtime.dispatch import Dispatcher
    from factorial_aws.runtime.runner import TurnRunner
    from factorial_aws.store.client import RedisClient


def load_app(settings: Settings) -> App:
    """The :class:`App` named by ``FACTORIAL_APP`` (``module:attribute``).

    Raises:
        SettingsError: the module does not import, the attribute is missing, or it is not an App.
    """
    name = f"FACTORIAL_APP={settings.app!r}"
    try:
        target: Any = importlib.import_module(settings.app_module)
    except ImportError as exc:
        raise SettingsError(f"{name}: cannot import {settings.app_module!r}: {exc}") from exc
    for part in settings.app_attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise SettingsError(f"{name}: {settings.app_module!r} has no {part!r}") from None
    if not isinstance(target, App):
        raise SettingsError(f"{name} is a {type(target).__name__}, not a factorial_aws App")
    return target


@dataclass(frozen=True)
class Wiring:
    """Everything one container shares (see the module docstring)."""

    settings: Settings
    app: App
    store: StoreContext
    dispatcher: Dispatcher
    clock: Clock
    observer: Observer
    secrets: SecretCache
    _workers: list[TurnWorker] = field(default_factory=list, repr=False)

    @cached_property
    def hook_secret(self) -> bytes:
        """The key hook ids and tokens derive from: read from Secrets Manager on first use, then
        kept for the container's life (a key change reaches fresh containers, docs/operations.md).
        The maintenance sweep never asks for it (its role may not read the secret)."""
        return self.secrets.get(self.settings.hook_secret_arn).encode()

    @cached_property
    def control(self) -> Control:
        """The control plane of the API (built on first use; it reads the hook secret, which
        rotating a hook's token needs)."""
        return Control(
            self.app,
            self.store,
            self.dispatcher,
            self.hook_secret,
            self.settings.public_base_url,
            webhook_secrets=WebhookSecretReader(self.secrets, self.settings.webhook_secret_prefix),
        )

    @cached_property
    def api(self) -> APIGatewayHttpResolver:
        """The HTTP API resolver (built on first use)."""
        from factorial_aws.aws.api import build_api  # the turn function never needs it

        return build_api(
            self.control,
            require_iam=self.settings.require_iam,
            max_body_bytes=self.settings.max_payload_bytes,
            observer=self.observer,
        )

    def model_api_key(self) -> str | None:
        """``OPENAI_API_KEY``, else the model key secret, else None (the client then fails)."""
        if self.settings.openai_api_key:
            return self.settings.openai_api_key
        if self.settings.model_key_secret_arn:
            return self.secrets.get(self.settings.model_key_secret_arn)
        return None

    def turn_runner(self, model: ModelClient) -> TurnRunner:
        """A turn runner calling ``model``."""
        from factorial_aws.runtime.env import TurnEnv
        from factorial_aws.runtime.runner import TurnRunner

        env = TurnEnv(
            model=model,
            clock=self.clock,
            hook_secret=self.hook_secret,
            public_base_url=self.settings.public_base_url,
            max_context_bytes=self.store.settings.max_context_bytes,
        )
        return TurnRunner(self.app, self.store, env, self.dispatcher)

    def worker(self, make_model: Callable[[Wiring], ModelClient]) -> TurnWorker:
        """The container's turn worker, built with ``make_model(self)`` on first use."""
        if not self._workers:
            self._workers.append(TurnWorker(self, make_model(self)))
        return self._workers[0]

    def close(self) -> None:
        """Close the turn worker's event loop (tests; a container just dies)."""
        while self._workers:
            self._workers.pop().close()


class TurnWorker:
    """Runs turn-queue message bodies on one event loop kept for the container's life."""

    def __init__(self, wiring: Wiring, model: ModelClient) -> None:
        self.wiring = wiring
        self.runner = wiring.turn_runner(TimedModel(model, wiring.observer))
        self.loop = asyncio.new_event_loop()

    def handle_body(self, body: str) -> str:
        """Handle one message body; returns what happened.

        A malformed body is logged and answered ``"malformed"`` (acknowledged: retrying it
        cannot help). Any exception propagates, so that the message is delivered again.
        """
        observer = self.wiring.observer
        try:
            message = parse_body(body)
        except MalformedQueueMessageError as exc:
            observer.logger.error("dropped a malformed turn message", extra={"error": exc.message})
            return "malformed"
        keys = {"task_id": message.task_id, "seq": message.seq, "message_kind": message.kind}
        with observer.keys(**keys):
            started = self.wiring.clock.monotonic()
            try:
                result = self.loop.run_until_complete(self.runner.handle(message))
            except Exception:
                observer.turn_failure()
                observer.logger.exception("turn message failed; it will be delivered again")
                raise
            observer.turn_message(result, self.wiring.clock.monotonic() - started)
            observer.logger.info("turn message handled", extra={"result": result})
        return result

    def close(self) -> None:
        """Shut the event loop down (closing the model client's connections with it)."""
        if not self.loop.is_closed():
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()


def build(
    settings: Settings,
    *,
    app: App | None = None,
    clock: Clock | None = None,
    fake_time: bool = False,
    redis_client: RedisClient | None = None,
    sqs_client: Any = None,
    scheduler_client: Any = None,
    secrets_client: Any = None,
    observer: Observer | None = None,
) -> Wiring:
    """The wiring of ``settings``; every part not given is built as on AWS.

    ``fake_time=True`` (tests) makes the store scripts read ``clock`` instead of the server's
    ``TIME``, so a fake clock drives expiries and leases.
    """
    clock = clock or SystemClock()
    observer = observer or Observer(settings.service_name, clock=clock, level=settings.log_level)
    client = redis_client or connect_from_settings(settings)
    store = StoreContext(
        client, clock=clock if fake_time else None, settings=settings.store_settings()
    )
    queue = SqsTurnQueue(sqs_client or clients.sqs(), settings.turn_queue_url)
    scheduler = EventBridgeScheduler(
        scheduler_client or clients.scheduler(),
        group=settings.scheduler_group,
        target_arn=settings.turn_queue_arn,
        role_arn=settings.scheduler_role_arn,
        clock=clock,
        dead_letter_arn=settings.scheduler_dlq_arn,
    )
    dispatcher = ObservedDispatcher(queue, scheduler, clock, observer)
    secrets = SecretCache(secrets_client or clients.secretsmanager(), clock=clock)
    app = app or load_app(settings)
    return Wiring(settings, app, store, dispatcher, clock, observer, secrets)


@dataclass
class _Container:
    wiring: Wiring | None = None
    restore_logs: Callable[[], None] | None = None


_CONTAINER = _Container()


def container() -> Wiring:
    """The container's wiring: the installed one, else built from the environment once (its
    observer then also takes over the package's ``factorial_aws.*`` log records)."""
    if _CONTAINER.wiring is None:
        settings = Settings.from_env()
        clock = SystemClock()
        observer = Observer(settings.service_name, clock=clock, level=settings.log_level)
        _CONTAINER.restore_logs = route_package_logs(observer)
        _CONTAINER.wiring = build(settings, clock=clock, observer=observer)
    return _CONTAINER.wiring


def install(wiring: Wiring | None) -> Wiring | None:
    """Make ``wiring`` the container's (None: build from the environment on next use); returns
    the one it replaces. Undoes the log routing of an environment-built container."""
    if _CONTAINER.restore_logs is not None:
        _CONTAINER.restore_logs()
        _CONTAINER.restore_logs = None
    previous, _CONTAINER.wiring = _CONTAINER.wiring, wiring
    return previous
