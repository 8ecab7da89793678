"""``steer_task``: a steering message for a task's next turn (lua/steer_task.lua)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factorial_aws.core.records import check_text
from factorial_aws.errors import ContextTooLargeError, TaskFinishedError
from factorial_aws.store import keys
from factorial_aws.store.transition import call, check_task_id

if TYPE_CHECKING:
    from factorial_aws.store.base import StoreContext


def steer_task(sc: StoreContext, task_id: str, text: str) -> None:
    """Push a steering message, delivered at the task's next turn (a parked task is not woken).

    Raises:
        TaskNotFoundError: no such task.
        TaskFinishedError: the task ended.
        ContextTooLargeError: the task's context would pass its cap (nothing written).
    """
    check_task_id(task_id)
    check_text(text, "text")
    ks = [keys.task(task_id), keys.inbox(task_id), keys.events(task_id)]
    cap = sc.settings.max_context_bytes
    res = call(sc, "steer_task", task_id, ks, [text, cap])
    if res[0] == "finished":
        raise TaskFinishedError(f"task {task_id} is {res[1]}")
    if res[0] == "too_large":
        raise ContextTooLargeError(
            f"task {task_id}: this message would take its context to {res[1]} bytes, "
            f"over the cap of {cap}"
        )
