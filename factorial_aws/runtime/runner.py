"""The turn runner: one queue message in, one turn (or one wake) done, what comes next sent.

claim -> run the pure turn -> commit -> dispatch. The incoming message must be acknowledged only
after ``handle`` returns: if the process dies after the commit and before the dispatch, the message
is redelivered, its ``seq`` is stale, and the runner re-sends the turn message the commit called
for instead of running the turn again.

If the worker (or the store) dies after the claim, nothing is lost either: the claim scored the
task's dispatch entry at its lease expiry, so the maintenance sweep reclaims the task and sends
its turn once the lease lapses, whether or not the queue ever redelivers the message. While a turn
runs, the runner renews its lease every ``StoreSettings.lease_renew_ms`` (when not 0), so a short
lease does not cut a long turn off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from factorial_aws.core import logctx
from factorial_aws.core.outcomes import Fail, ParkHooks, TurnOutcome
from factorial_aws.errors import UnknownAgentError
from factorial_aws.runtime.turn import run_turn
from factorial_aws.runtime.webhook_flow import register_sourced
from factorial_aws.store.commit import commit_turn
from factorial_aws.store.hooks import expire_hook
from factorial_aws.store.tasks import Claimed, NotClaimed, StaleCommit, claim_turn, renew_lease
from factorial_aws.store.wake_task import wake_task
from factorial_aws.store.webhooks import open_registrations, registrations

if TYPE_CHECKING:
    from factorial_aws.agents.agent import App
    from factorial_aws.core.records import QueueMessage
    from factorial_aws.runtime.dispatch import Dispatcher
    from factorial_aws.runtime.env import TurnEnv
    from factorial_aws.store.base import StoreContext

log = logging.getLogger("factorial_aws.runner")


@dataclass(frozen=True)
class TurnRunner:
    """Runs the turns of an app's tasks."""

    app: App
    store: StoreContext
    env: TurnEnv
    dispatcher: Dispatcher

    def __post_init__(self) -> None:
        if self.env.webhook_sources is None:  # a hook's source= must be one the app declares
            sources = frozenset(self.app.webhooks)
            object.__setattr__(self, "env", replace(self.env, webhook_sources=sources))

    async def handle(self, message: QueueMessage) -> str:
        """Process one queue message; returns what happened (for logs and tests)."""
        if message.kind == "wake":
            return self._wake(message)
        if message.kind == "expire":
            return self._expire(message)
        claim = claim_turn(self.store, message.task_id, message.seq)
        if isinstance(claim, NotClaimed):
            return self._not_claimed(claim)
        return await self._run(claim)

    def _wake(self, message: QueueMessage) -> str:
        result = wake_task(self.store, message.task_id, message.wait_id or "", self.env.clock.now())
        if result.woke:
            self.dispatcher.turn(message.task_id, result.seq)
            return "woke"
        if result.early_until is not None:  # the scheduler fired early: wait out the rest
            self.dispatcher.wake_at(message.task_id, message.wait_id or "", result.early_until)
            return "early_wake"
        return "stale_wake"

    def _expire(self, message: QueueMessage) -> str:
        result = expire_hook(self.store, message.hook_id or "")
        if result.outcome == "not_due" and result.expires_at is not None:  # rotated or early
            self.dispatcher.expire_at(message.task_id, message.hook_id or "", result.expires_at)
        if result.seq:
            self.dispatcher.turn(result.task_id, result.seq)
        return f"hook_{result.outcome}"

    def _not_claimed(self, claim: NotClaimed) -> str:
        """A stale message for a task that is queued and was not picked up within the grace
        period: the dispatch after its last commit was lost; send it again.

        A message for a task parked on hooks may be the redelivery of one whose worker died
        between the commit and the registration of its webhook hooks: register them again
        (idempotent; only for an app with webhook sources)."""
        if claim.status == "waiting_hook" and self.app.webhooks:
            hooks = open_registrations(self.store, claim.task_id)
            register_sourced(self.app, self.store, self.dispatcher, hooks)
        grace = self.store.settings.dispatch_grace_ms
        if (
            claim.reason == "stale"
            and claim.status == "queued"
            and claim.seq is not None
            and claim.queued_at_ms is not None
            and self.store.now_ms() - claim.queued_at_ms > grace
        ):
            self.dispatcher.turn(claim.task_id, claim.seq)
            return "redispatched"
        return claim.reason

    async def _run(self, claim: Claimed) -> str:
        with logctx.bind(task_id=claim.task_id, turn=claim.context.turn + 1, agent=claim.agent):
            return await self._run_bound(claim)

    async def _run_bound(self, claim: Claimed) -> str:
        every_ms = self.store.settings.lease_renew_ms
        heartbeat = asyncio.create_task(self._heartbeat(claim, every_ms)) if every_ms else None
        try:
            outcome = await self._outcome(claim)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
        committed = commit_turn(self.store, claim, outcome)
        if isinstance(committed, StaleCommit):
            log.warning("turn of %s lost its lease; its commit was refused", claim.task_id)
            return "stale_commit"
        self.dispatcher.after_commit(committed, outcome)
        if isinstance(outcome, ParkHooks):
            # after the commit landed: a delivery either finds the hooks in the routing index
            # or was kept early, and this call hands it back (register_webhook_hook.lua; no
            # store call when no hook waits on a source)
            hooks = registrations(outcome.requests)
            register_sourced(self.app, self.store, self.dispatcher, hooks)
        return committed.status

    async def _heartbeat(self, claim: Claimed, every_ms: int) -> None:
        """Renew the lease every ``every_ms`` until cancelled (the turn ended) or lost."""
        while True:
            await asyncio.sleep(every_ms / 1000)
            try:
                lease = renew_lease(self.store, claim)
            except Exception:
                log.warning("could not renew the lease of %s", claim.task_id, exc_info=True)
                continue
            if lease is None:
                log.warning("turn of %s lost its lease while running", claim.task_id)
                return

    async def _outcome(self, claim: Claimed) -> TurnOutcome:
        try:
            agent = self.app.agent(claim.agent)
        except UnknownAgentError as exc:  # the app changed under a live task
            return Fail(context=claim.context, code=exc.code, message=exc.message)
        return await run_turn(agent, claim.context, claim.turn_input, self.env)
