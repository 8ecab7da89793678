"""``reclaim_lapsed_lease``: a turn that died holding its lease (lua/reclaim_lapsed_lease.lua)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factorial_aws.store import keys
from factorial_aws.store.scripts import IndexMove
from factorial_aws.store.tasks import dispatch_intent, lease_score
from factorial_aws.store.transition import PARKED_OR_ENDED, call, check_task_id

if TYPE_CHECKING:
    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.scripts import Arg


def reclaim_lapsed_lease(
    sc: StoreContext, task_id: str, fence: int | None = None, *, force: bool = False
) -> int:
    """Queue again a ``running`` task whose lease lapsed (its turn died).

    Args:
        fence: the fence the caller saw; if the task was claimed again since, nothing happens.
        force: reclaim even a lease that has not lapsed: the caller knows the turn holding it
            died (the dev server at start, on a state dir no other process holds).

    Returns:
        The new seq (send a turn message with it), or 0: live lease, fenced, or not running.
    """
    check_task_id(task_id)
    ks = [keys.task(task_id), keys.events(task_id)]
    args: list[Arg] = ["" if fence is None else fence, "force" if force else ""]
    intent = dispatch_intent(sc, task_id)
    res = call(sc, "reclaim_lapsed_lease", task_id, ks, args, [intent])
    if res[0] == "requeued":
        return int(res[1])
    # put the entry back as the task needs it, if it is still the one written here
    if res[0] == "live":
        sc.scripts.move(
            IndexMove(intent.key, intent.member, intent.score, lease_score(int(res[1])))
        )
    elif res[0] == "not_running" and res[1] in PARKED_OR_ENDED:
        sc.scripts.move(IndexMove(intent.key, intent.member, intent.score))
    return 0
