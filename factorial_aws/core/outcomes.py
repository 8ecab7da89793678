"""What one turn decides. The runtime produces these; the store commits them atomically.

Every outcome carries the new task context, the child tasks to create and the events to append:
the commit writes all of it in one transition, so a crash either loses the whole turn (and it is
replayed) or none of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from factorial_aws.core.records import ChildSpec, HookRequest, JsonValue, TaskContext, TaskEvent

_CFG = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _Outcome(BaseModel):
    model_config = _CFG

    context: TaskContext
    spawned: tuple[ChildSpec, ...] = ()
    events: tuple[TaskEvent, ...] = ()


class Continue(_Outcome):
    """The turn ended with work left: run another turn now."""

    kind: Literal["continue"] = "continue"


class Complete(_Outcome):
    """The agent produced its final output (accepted by the verifier, if any)."""

    kind: Literal["complete"] = "complete"
    output: JsonValue = None


class ParkHooks(_Outcome):
    """Park until hooks resolve. ``requests`` are new hooks to register in the same commit."""

    kind: Literal["park_hooks"] = "park_hooks"
    requests: tuple[HookRequest, ...] = ()
    waiting_on: tuple[str, ...] = Field(default=(), description="hook ids still requested")


class ParkTime(_Outcome):
    """Park until ``wake_at`` (a sleep or the next cron tick)."""

    kind: Literal["park_time"] = "park_time"
    wait_id: str
    wake_at: datetime


class ParkChildren(_Outcome):
    """Park until the children join is met."""

    kind: Literal["park_children"] = "park_children"
    wait_id: str
    child_ids: tuple[str, ...]
    join: Literal["all", "any"] | int = "all"


class Fail(_Outcome):
    """The task ends as failed."""

    kind: Literal["fail"] = "fail"
    code: str
    message: str


class Retry(_Outcome):
    """A transient failure: run the turn again after ``delay_s``. Work done so far is kept."""

    kind: Literal["retry"] = "retry"
    code: str
    message: str
    delay_s: float


TurnOutcome = Continue | Complete | ParkHooks | ParkTime | ParkChildren | Fail | Retry
