"""The EventBridge Scheduler adapter of the scheduler port: :class:`EventBridgeScheduler`.

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
