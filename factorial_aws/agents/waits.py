"""``wait.sleep``, ``wait.cron`` and ``wait.children``: what a tool returns to park its task.

A wait is returned from a tool, never awaited in it: the turn ends, the task parks at no cost, and
the wake writes the tool's result (the wait's ``data`` plus what happened: elapsed time, the cron
tick, the children's outcomes) for the model to read on the next turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from factorial_aws.agents.subagents import ChildRef
from factorial_aws.errors import InvalidCronError, InvalidWaitError

if TYPE_CHECKING:
    from collections.abc import Sequence

Join = Literal["all", "any"] | int


@dataclass(frozen=True)
class SleepWait:
    """Sleep for ``seconds`` (relative) or until ``until`` (absolute, aware)."""

    seconds: float | None = None
    until: datetime | None = None
    data: Any = None

    def wake_at(self, now: datetime) -> datetime:
        """When the task should wake, given the time it parks."""
        if self.until is not None:
            return max(self.until, now)
        return now + timedelta(seconds=self.seconds or 0.0)


@dataclass(frozen=True)
class CronWait:
    """Wait for the next tick of a five-field cron expression in time zone ``tz``."""

    expr: str
    tz: str = "UTC"
    data: Any = None

    def wake_at(self, now: datetime) -> datetime:
        """The first tick strictly after ``now``, as an aware UTC datetime."""
        return next_cron_tick(self.expr, self.tz, now)


@dataclass(frozen=True)
class ChildrenWait:
    """Wait for child tasks: all of them, any one, or at least N."""

    child_ids: tuple[str, ...]
    join: Join = "all"
    data: Any = None


WaitInstruction = SleepWait | CronWait | ChildrenWait


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidWaitError(f"unknown time zone {tz!r}") from exc


def validate_cron(expr: str) -> str:
    """Check a five-field cron expression (minute hour day-of-month month day-of-week).

    Raises:
        InvalidCronError: the expression does not parse or has the wrong number of fields.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise InvalidCronError(
            f"cron expression {expr!r} must have 5 fields (minute hour day month weekday); "
            "the scheduler has one-minute precision, so there is no seconds field"
        )
    from croniter import croniter  # lazy: only cron users pay for it

    if not croniter.is_valid(expr):
        raise InvalidCronError(f"cron expression {expr!r} does not parse")
    return expr


def next_cron_tick(expr: str, tz: str, now: datetime) -> datetime:
    """The first tick of ``expr`` in ``tz`` strictly after ``now``, in UTC."""
    zone = _zone(tz)
    local_now = now.astimezone(zone)
    from croniter import croniter  # lazy: only cron users pay for it

    nxt: datetime = croniter(validate_cron(expr), local_now).get_next(datetime)
    return nxt.astimezone(now.tzinfo)


class _WaitNamespace:
    """``wait.sleep(...)``, ``wait.cron(...)``, ``wait.children(...)``."""

    def sleep(
        self,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        until: datetime | None = None,
        data: Any = None,
    ) -> SleepWait:
        """Park the task for a duration, or until an aware datetime.

        Raises:
            InvalidWaitError: a negative duration, a naive ``until``, or both forms at once.
        """
        total = seconds + 60 * minutes + 3600 * hours
        if until is not None:
            if total:
                raise InvalidWaitError("give either a duration or until=, not both")
            if until.tzinfo is None:
                raise InvalidWaitError("until= must be timezone-aware")
            return SleepWait(until=until, data=data)
        if total < 0:
            raise InvalidWaitError(f"sleep duration must not be negative, got {total}s")
        return SleepWait(seconds=total, data=data)

    def cron(self, expr: str, *, tz: str = "UTC", data: Any = None) -> CronWait:
        """Park the task until the next tick of a five-field cron expression in ``tz``.

        Raises:
            InvalidCronError: the expression does not parse.
            InvalidWaitError: the time zone is unknown.
        """
        validate_cron(expr)
        _zone(tz)
        return CronWait(expr=expr, tz=tz, data=data)

    def children(
        self, refs: Sequence[ChildRef | str], *, join: Join = "all", data: Any = None
    ) -> ChildrenWait:
        """Park the task until its children finish: ``"all"``, ``"any"`` or at least ``N``.

        Raises:
            InvalidWaitError: no children, or ``N`` outside ``1..len(refs)``.
        """
        ids = tuple(r.task_id if isinstance(r, ChildRef) else r for r in refs)
        if not ids:
            raise InvalidWaitError("wait.children needs at least one child")
        if isinstance(join, bool) or (isinstance(join, int) and not 1 <= join <= len(ids)):
            raise InvalidWaitError(f"join={join!r} must be 'all', 'any' or 1..{len(ids)}")
        if isinstance(join, str) and join not in ("all", "any"):
            raise InvalidWaitError(f"join={join!r} must be 'all', 'any' or an int")
        return ChildrenWait(child_ids=ids, join=join, data=data)


wait = _WaitNamespace()
