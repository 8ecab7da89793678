"""Logs and metrics of the Lambda functions: Powertools ``Logger`` (structured JSON, task keys)
and EMF metrics (namespace ``FactorialAws``), with every secret redacted before a line is written.

Redaction (:func:`redact`) runs on each finished JSON line, so it covers messages, extra keys,
logged events and tracebacks alike: anything shaped like a hook token (43 URL-safe base64
characters standing alone), the values of the ``X-Hook-Token``, ``Authorization``,
``X-Amz-Security-Token`` and ``Cookie`` headers and of ``"token"`` keys, ``token=`` query values,
bearer credentials and ``sk-...`` API keys. :class:`RedactingFilter` does the same for plain
``logging`` handlers (the dev server's).

Metrics: ``Turns``, ``TurnDuration``, ``ModelLatency``, ``HooksRequested``, ``HooksResolved``,
``HooksExpired``, ``ResolveLatency``, ``Wakes``, ``TurnFailures``; buffered per invocation and
flushed (one EMF line on stdout) when it ends. No Tracer: it costs ~230 ms of cold start.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from factorial_aws.core import logctx
from factorial_aws.core.outcomes import ParkHooks
from factorial_aws.runtime.dispatch import Dispatcher

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from aws_lambda_powertools.logging.types import LogRecord

    from factorial_aws.core.clock import Clock
    from factorial_aws.core.outcomes import TurnOutcome
    from factorial_aws.llm.base import ModelClient, ModelRequest, ModelResponse
    from factorial_aws.runtime.maintenance import SweepReport
    from factorial_aws.store.tasks import Committed

NAMESPACE = "FactorialAws"
PACKAGE_LOGGER = "factorial_aws"
#: What ``TurnRunner.handle`` returns when it ran a turn (the task's status after the commit).
TURN_RESULTS = frozenset(
    {"queued", "running", "waiting_hook", "waiting_time", "waiting_children", "completed", "failed"}
    | {"cancelled"}
)

_MASK = "***"
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r'(?i)("(?:x-hook-token|authorization|x-amz-security-token|cookie|token)"'
            r'\s*:\s*")(?:[^"\\]|\\.)*'
        ),
        rf"\g<1>{_MASK}",
    ),
    (re.compile(r"(?i)(x-hook-token\s*[:=]\s*)[^\s,;\"'}&]+"), rf"\g<1>{_MASK}"),
    (re.compile(r"(?i)(\btoken=)[^&\s\"'#]+"), rf"\g<1>{_MASK}"),
    (re.compile(r"(?i)(token%3D)[A-Za-z0-9_.~-]+"), rf"\g<1>{_MASK}"),  # a percent-encoded link
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{_MASK}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), f"sk-{_MASK}"),
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), _MASK),
)


def redact(text: str) -> str:
    """``text`` with every token, token-carrying header or query value and API key masked."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A ``logging`` filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the message by its redacted form (always keeps the record)."""
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class ContextFilter(logging.Filter):
    """Put the runtime's log context (task_id, turn, tool_call_id, tool) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in logctx.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RedactingFormatter(LambdaPowertoolsFormatter):
    """The Powertools JSON formatter, redacting each finished line."""

    def serialize(self, log: LogRecord) -> str:
        """The JSON line of ``log``, redacted."""
        return redact(super().serialize(log))


class Observer:
    """One function's logger and metrics.

    Args:
        service: the service name on every line and metric.
        clock: measures durations (its monotonic reading).
        level: the log level.
        stream: where log lines go (stdout by default). A service's Powertools logger is
            configured once per process: a second observer of the same service shares the
            first one's handler (and stream).
    """

    def __init__(
        self, service: str, *, clock: Clock, level: str = "INFO", stream: IO[str] | None = None
    ) -> None:
        self.clock = clock
        if logging.getLogger(service).handlers:  # Powertools configures a service's logger once
            self.logger = Logger(service=service)
            self.logger.setLevel(level)
        else:
            handler = logging.StreamHandler(stream or sys.stdout)
            handler.addFilter(ContextFilter())
            handler.addFilter(RedactingFilter())
            self.logger = Logger(
                service=service,
                level=level,
                logger_handler=handler,
                logger_formatter=RedactingFormatter(),
                utc=True,
            )
        self.metrics = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=service)
        self._cold = True

    # --- metrics -----------------------------------------------------------------------------

    def count(self, name: str, value: float = 1) -> None:
        """Add ``value`` to the count ``name``."""
        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def duration(self, name: str, seconds: float) -> None:
        """Record a duration in milliseconds."""
        self.metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=seconds * 1000)

    def turn_message(self, result: str, seconds: float) -> None:
        """One turn-queue message handled with ``result`` (``TurnRunner.handle``'s answer)."""
        if result in TURN_RESULTS:
            self.count("Turns")
            self.duration("TurnDuration", seconds)
            if result == "failed":
                self.count("TurnFailures")
        elif result == "woke":
            self.count("Wakes")

    def turn_failure(self) -> None:
        """A turn message raised (it will be redelivered)."""
        self.count("TurnFailures")

    def model_latency(self, seconds: float) -> None:
        """One model call took ``seconds``."""
        self.duration("ModelLatency", seconds)

    def hooks_requested(self, n: int) -> None:
        """A commit registered ``n`` hooks."""
        self.count("HooksRequested", n)

    def hook_resolved(self, seconds: float) -> None:
        """A resolve succeeded in ``seconds``."""
        self.count("HooksResolved")
        self.duration("ResolveLatency", seconds)

    def hooks_expired(self, n: int) -> None:
        """``n`` hooks expired."""
        self.count("HooksExpired", n)

    def swept(self, report: SweepReport) -> None:
        """What a maintenance sweep repaired."""
        if report.expired:
            self.hooks_expired(report.expired)
        if report.woke:
            self.count("Wakes", report.woke)

    def flush(self) -> None:
        """Write the buffered metrics as one EMF line (nothing when there are none)."""
        if self.metrics.metric_set:
            self.metrics.flush_metrics()

    # --- logs --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def keys(self, **keys: Any) -> Iterator[None]:
        """Put ``keys`` (task_id, turn, tool_call_id...) on every line logged inside."""
        self.logger.append_keys(**keys)
        try:
            yield
        finally:
            self.logger.remove_keys(list(keys))

    @contextlib.contextmanager
    def invocation(self, context: Any, event: Mapping[str, Any] | None = None) -> Iterator[None]:
        """One Lambda invocation: its request id, cold start and (API) correlation id on every
        line, the event logged at DEBUG (redacted), metrics flushed at the end."""
        keys = {
            "function_request_id": getattr(context, "aws_request_id", None),
            "function_name": getattr(context, "function_name", None),
            "cold_start": self._cold,
        }
        self._cold = False
        request_id = ((event or {}).get("requestContext") or {}).get("requestId")
        self.logger.set_correlation_id(request_id if isinstance(request_id, str) else None)
        with self.keys(**{k: v for k, v in keys.items() if v is not None}):
            if event is not None:
                self.logger.debug("event", extra={"event": event})
            try:
                yield
            finally:
                self.flush()


def route_package_logs(observer: Observer) -> Callable[[], None]:
    """Send the package's own ``logging`` records (``factorial_aws.*``) through the observer's
    handler (JSON, keys, redaction) instead of the root logger; returns the undo."""
    package = logging.getLogger(PACKAGE_LOGGER)
    saved = (list(package.handlers), package.propagate, package.level)
    package.handlers = list(observer.logger.handlers)
    package.propagate = False
    package.setLevel(observer.logger.log_level)

    def restore() -> None:
        package.handlers, package.propagate = saved[0], saved[1]
        package.setLevel(saved[2])

    return restore


@dataclass(frozen=True)
class TimedModel:
    """A model client that records each call's latency."""

    model: ModelClient
    observer: Observer

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Call the wrapped model, timing it."""
        started = self.observer.clock.monotonic()
        try:
            return await self.model.complete(request)
        finally:
            self.observer.model_latency(self.observer.clock.monotonic() - started)


@dataclass(frozen=True)
class ObservedDispatcher(Dispatcher):
    """The dispatcher, counting the hooks each commit registers."""

    observer: Observer | None = None

    def after_commit(self, committed: Committed, outcome: TurnOutcome) -> None:
        """Dispatch as usual, then count the hooks the commit registered."""
        super().after_commit(committed, outcome)
        if self.observer is not None and isinstance(outcome, ParkHooks) and outcome.requests:
            self.observer.hooks_requested(len(outcome.requests))
