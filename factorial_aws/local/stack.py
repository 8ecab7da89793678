"""``LocalStack``: the whole runtime in one process, wired like the Lambda functions are.

Store (a real Valkey/Redis), turn runner, control plane and maintenance sweep, with the in-process
queue and scheduler in place of SQS and EventBridge Scheduler. The dev server, the examples and
the end-to-end tests all run on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from factorial_aws.aws.settings import env_webhook_secrets
from factorial_aws.local.queue import LocalQueue, LocalScheduler
from factorial_aws.runtime.control import Control
from factorial_aws.runtime.dispatch import Dispatcher
from factorial_aws.runtime.env import TurnEnv
from factorial_aws.runtime.maintenance import SweepReport, sweep
from factorial_aws.runtime.runner import TurnRunner
from factorial_aws.store.base import StoreContext, StoreSettings

if TYPE_CHECKING:
    from factorial_aws.agents.agent import App
    from factorial_aws.core.clock import Clock
    from factorial_aws.llm.base import ModelClient
    from factorial_aws.store.client import RedisClient


@dataclass
class LocalStack:
    """Everything a deployed stack does, in process.

    ``fake_time=True`` (tests) makes the store scripts read ``clock`` instead of the server's
    ``TIME``, so a FakeClock drives expiries and leases.
    """

    app: App
    client: RedisClient
    model: ModelClient
    clock: Clock
    hook_secret: bytes
    public_base_url: str
    settings: StoreSettings = field(default_factory=StoreSettings)
    fake_time: bool = False

    def __post_init__(self) -> None:
        self.store = StoreContext(
            self.client, clock=self.clock if self.fake_time else None, settings=self.settings
        )
        self.queue = LocalQueue(self.clock)
        self.dispatcher = Dispatcher(self.queue, LocalScheduler(self.queue), self.clock)
        env = TurnEnv(
            model=self.model,
            clock=self.clock,
            hook_secret=self.hook_secret,
            public_base_url=self.public_base_url,
            max_context_bytes=self.settings.max_context_bytes,
        )
        self.runner = TurnRunner(self.app, self.store, env, self.dispatcher)
        self.control = Control(
            self.app,
            self.store,
            self.dispatcher,
            self.hook_secret,
            self.public_base_url,
            webhook_secrets=env_webhook_secrets,  # FACTORIAL_WEBHOOK_SECRET_<NAME>
        )

    def run_due(self) -> int:
        """Deliver every queue message due now (synchronously); returns how many."""
        return asyncio.run(self.queue.drain(self.runner.handle))

    def sweep(self) -> SweepReport:
        """One maintenance pass."""
        return sweep(self.store, self.dispatcher)

    def start(self, workers: int = 1) -> None:
        """Run turns in the background as messages come due (real time), ``workers`` at once."""
        self.queue.start(self.runner.handle, workers=workers)

    def stop(self) -> None:
        """Stop the background workers."""
        self.queue.stop()
