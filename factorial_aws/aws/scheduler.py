"""The EventBridge Scheduler adapter of the scheduler port: :class:`EventBridgeScheduler`, and
:func:`unix_cron_to_aws` for recurring schedules.

A wake schedule is a one-shot ``at()`` schedule in UTC whose target is the turn queue; its
``Input`` is the queue message JSON and it deletes itself after it fires. Schedules fire with
one-minute precision and at least once; the turn re-checks the wait's deadline, so an early, late
or duplicate wake is harmless.

Times in the past: AWS does not document what ``CreateSchedule`` does with an ``at()`` time
already past (practitioners report a ``ValidationException``; moto validates nothing), so this
adapter never sends one: a time earlier than ``now + 60 s`` (the scheduler's precision) is moved
to ``now + 60 s``. A wake is never lost that way, only late by at most a minute. (The dispatcher
schedules only waits more than 15 minutes away, so this matters after retries or clock skew.)
Times are rounded up to the whole second (``at()`` takes no fraction), never earlier than asked.

Delivery failures: every wake schedule carries :data:`RETRY_POLICY` (a failed delivery to the
queue is retried for up to an hour) and, when the stack gives one (``FACTORIAL_SCHEDULER_DLQ_ARN``),
a ``DeadLetterConfig``: a wake Scheduler gave up on lands in that queue (the template alarms on it)
instead of vanishing. The maintenance sweep still wakes a task whose wake never arrived.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from factorial_aws.aws.sqs import encode_body

if TYPE_CHECKING:
    from factorial_aws.core.clock import Clock
    from factorial_aws.core.records import QueueMessage

_NAME = re.compile(r"[0-9A-Za-z_.-]{1,64}")
#: The earliest a schedule is set for, from now (the scheduler's one-minute precision).
MIN_LEAD = timedelta(seconds=60)
#: Retries of a failed delivery of a wake (Scheduler backs off exponentially): for an hour, after
#: which the sweep has long woken the task anyway (it checks due wakes every minute).
RETRY_POLICY: dict[str, int] = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20}


def validate_name(name: str, what: str = "schedule name") -> str:
    """``name`` if it is 1-64 characters of ``[0-9A-Za-z_.-]``, else ``ValueError``."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"{what} must be 1-64 characters of [0-9A-Za-z_.-], got {name!r}")
    return name


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


class EventBridgeScheduler:
    """A :class:`~factorial_aws.runtime.ports.Scheduler` backed by EventBridge Scheduler.

    Args:
        client: a boto3 ``scheduler`` client.
        group: the schedule group wake schedules live in.
        target_arn: the turn queue's ARN.
        role_arn: the role the scheduler assumes to send to the queue.
        clock: the source of "now" for clamping past times.
        dead_letter_arn: the SQS queue deliveries that exhausted :data:`RETRY_POLICY` go to
            (the role must be allowed to send to it); ``None``: no dead-letter queue.
    """

    def __init__(
        self,
        client: Any,
        *,
        group: str,
        target_arn: str,
        role_arn: str,
        clock: Clock,
        dead_letter_arn: str | None = None,
    ) -> None:
        self._client = client
        self.group = validate_name(group, "schedule group name")
        self.target_arn = target_arn
        self.role_arn = role_arn
        self.dead_letter_arn = dead_letter_arn
        self._clock = clock

    def target(self, body: str) -> dict[str, Any]:
        """The ``Target`` of a wake schedule sending ``body`` to the turn queue."""
        target: dict[str, Any] = {
            "Arn": self.target_arn,
            "RoleArn": self.role_arn,
            "Input": body,
            "RetryPolicy": dict(RETRY_POLICY),
        }
        if self.dead_letter_arn is not None:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        return target

    def at_expression(self, at: datetime) -> str:
        """The ``at()`` expression (UTC) for ``at``, moved to now + 60 s when earlier."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"schedule time must be timezone-aware, got {at!r}")
        when = max(at.astimezone(UTC), self._clock.now().astimezone(UTC) + MIN_LEAD)
        if when.microsecond:
            when = when.replace(microsecond=0) + timedelta(seconds=1)
        return f"at({when:%Y-%m-%dT%H:%M:%S})"

    def schedule(self, name: str, at: datetime, message: QueueMessage) -> None:
        """Create the one-shot schedule ``name`` sending ``message`` to the turn queue at ``at``.

        An existing schedule with that name is success (idempotent), whatever its time.

        Raises:
            ValueError: an invalid name or a naive ``at``; nothing is sent.
        """
        validate_name(name)
        expression = self.at_expression(at)
        body = encode_body(message)
        try:
            self._client.create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=expression,
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target=self.target(body),
                ClientToken=client_token(self.group, name, expression, body),
            )
        except Exception as exc:
            if _error_code(exc) != "ConflictException":
                raise

    def cancel(self, name: str) -> None:
        """Delete the schedule ``name``; a missing one (fired, or never created) is success."""
        validate_name(name)
        try:
            self._client.delete_schedule(Name=name, GroupName=self.group)
        except Exception as exc:
            if _error_code(exc) != "ResourceNotFoundException":
                raise


def client_token(group: str, name: str, expression: str, body: str) -> str:
    """The ``ClientToken`` of a create: a digest of the whole request (64 hex characters).

    Deterministic, so a retried create is recognised; including the expression and input (not
    only the name) keeps a token from ever being reused with different parameters, which the API
    would reject rather than treat as a retry.
    """
    digest = hashlib.sha256("\0".join((group, name, expression, body)).encode())
    return digest.hexdigest()


# --- unix cron -> EventBridge cron ---

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_ITEM = re.compile(r"(?P<base>\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?")


def _value(token: str, field: str, lo: int, hi: int, names: tuple[str, ...]) -> int:
    """One numeric or named cron value, range-checked."""
    if token.isdigit():
        number = int(token)
    elif token.upper() in names:
        number = names.index(token.upper()) + (1 if names is _MONTHS else 0)
    else:
        raise ValueError(f"cron {field} field: {token!r} is not a value in {lo}-{hi}")
    if not lo <= number <= hi:
        raise ValueError(f"cron {field} field: {number} is outside {lo}-{hi}")
    return number


def _check_item(item: str, field: str, lo: int, hi: int, names: tuple[str, ...]) -> re.Match[str]:
    match = _ITEM.fullmatch(item)
    if match is None:
        raise ValueError(f"cron {field} field: {item!r} is not valid unix cron syntax")
    if match["base"] != "*":
        tokens = match["base"].split("-")
        values = [_value(token, field, lo, hi, names) for token in tokens]
        if len(values) == 2 and values[0] > values[1]:
            raise ValueError(f"cron {field} field: range {item!r} runs backwards")
        if len({token.isdigit() for token in tokens}) > 1:
            raise ValueError(f"cron {field} field: {item!r} mixes names and numbers")
    if match["step"] is not None and int(match["step"]) == 0:
        raise ValueError(f"cron {field} field: a step of 0 in {item!r}")
    return match


def _plain_field(text: str, field: str, lo: int, hi: int, names: tuple[str, ...] = ()) -> str:
    """Minutes, hours, day of month or month: validated; ``*/n`` becomes ``<lo>/n``."""
    out = []
    for item in text.split(","):
        match = _check_item(item, field, lo, hi, names)
        step = match["step"]
        out.append(f"{lo}/{step}" if match["base"] == "*" and step is not None else item.upper())
    return ",".join(out)


def _dow_days(item: str, match: re.Match[str]) -> set[int]:
    """The unix days (0 = Sunday) of one numeric day-of-week item."""
    base, step = match["base"], int(match["step"] or 1)
    if base == "*":
        start, end = 0, 6
    elif "-" in base:
        start, end = (int(t) for t in base.split("-"))
    else:
        start = end = int(base)
        if match["step"] is not None:
            end = 6
    return {day % 7 for day in range(start, end + 1, step)}


def _ranges(days: set[int]) -> list[str]:
    """AWS day numbers (1 = Sunday) for unix ``days``, as compact ranges."""
    numbers = sorted(day + 1 for day in days)
    out: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(str(numbers[i]) if i == j else f"{numbers[i]}-{numbers[j]}")
        i = j + 1
    return out


def _dow_field(text: str) -> str:
    """Day of week: numbers +1 (0 and 7 = Sunday = 1), names unchanged, steps expanded
    (AWS takes no ``/`` in this field)."""
    named: list[str] = []
    days: set[int] = set()
    for item in text.split(","):
        match = _check_item(item, "day-of-week", 0, 7, _DAYS)
        if any(c.isalpha() for c in match["base"]):
            if match["step"] is not None:
                raise ValueError(f"cron day-of-week field: a step on names in {item!r}")
            named.append(item.upper())
        else:
            days |= _dow_days(item, match)
    return ",".join(named + _ranges(days))


def unix_cron_to_aws(expr: str) -> str:
    """Translate a 5-field unix cron expression into EventBridge's ``cron(...)`` form.

    ``m h dom mon dow`` becomes ``cron(m h dom' mon dow' *)``: a ``*`` day of week becomes
    ``?``; a ``*`` day of month with a restricted day of week becomes ``?``; day-of-week numbers
    shift by one (unix 0/7 = Sunday -> 1 ... 6 = Saturday -> 7), names stay; ``*/n`` becomes
    ``0/n`` (``1/n`` for day of month and month); ``@hourly`` and friends are expanded.

    Examples: ``*/5 * * * *`` -> ``cron(0/5 * * * ? *)``; ``0 9 * * 1-5`` ->
    ``cron(0 9 ? * 2-6 *)``; ``30 2 1 * *`` -> ``cron(30 2 1 * ? *)``.

    Raises:
        ValueError: not 5 fields, invalid syntax or values, or both day of month and day of week
            restricted (unix runs on either; EventBridge cannot express that in one schedule).
    """
    text = expr.strip()
    text = _MACROS.get(text.lower(), text)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"a unix cron expression has 5 fields, got {len(fields)} in {expr!r}")
    minute, hour, dom, month, dow = fields
    if dom != "*" and dow != "*":
        raise ValueError(
            f"{expr!r} restricts both day of month and day of week: unix cron runs when either "
            "matches, EventBridge Scheduler cannot express that in one schedule "
            "(use two schedules, one per field)"
        )
    aws_dom = "?" if dom == "*" and dow != "*" else _plain_field(dom, "day-of-month", 1, 31)
    aws_dow = "?" if dow == "*" else _dow_field(dow)
    parts = (
        _plain_field(minute, "minute", 0, 59),
        _plain_field(hour, "hour", 0, 23),
        aws_dom,
        _plain_field(month, "month", 1, 12, _MONTHS),
        aws_dow,
        "*",
    )
    return f"cron({' '.join(parts)})"
