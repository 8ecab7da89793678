"""``wake_task``: a time wait's wake (lua/wake_task.lua)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from factorial_aws.store import keys
from factorial_aws.store.base import to_ms
from factorial_aws.store.inbox import from_ms
from factorial_aws.store.scripts import IndexMove
from factorial_aws.store.tasks import dispatch_intent
from factorial_aws.store.transition import PARKED_OR_ENDED, call, check_task_id

if TYPE_CHECKING:
    from datetime import datetime

    from factorial_aws.store.base import StoreContext


@dataclass(frozen=True)
class WakeResult:
    """``woke``: the task was made queued; send a turn message with ``seq``. ``early_until``:
    the wake came before the wait's time; send it again for then. Otherwise it was stale."""

    woke: bool
    seq: int
    early_until: datetime | None = None


def wake_task(sc: StoreContext, task_id: str, wait_id: str, fired_at: datetime) -> WakeResult:
    """Wake a task parked on the time wait ``wait_id``; any other wake is stale and does nothing."""
    check_task_id(task_id)
    ks = [keys.task(task_id), keys.inbox(task_id), keys.events(task_id)]
    # the task's dispatch entry first: if the caller dies before sending the turn, the sweep
    # sends it. A wake that did not wake (early, or stale for a parked or ended task) takes it
    # back, if it is still the one written here.
    intent = dispatch_intent(sc, task_id)
    res = call(sc, "wake_task", task_id, ks, [wait_id, to_ms(fired_at)], [intent])
    if res[0] == "woke":
        return WakeResult(woke=True, seq=int(res[1]))
    if res[0] == "early" or res[1] in PARKED_OR_ENDED:
        sc.scripts.move(IndexMove(intent.key, intent.member, intent.score))
    if res[0] == "early":
        return WakeResult(False, 0, early_until=from_ms(res[1]))
    return WakeResult(False, 0)
