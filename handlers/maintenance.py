"""The maintenance function: one sweep per scheduled invocation (every minute)."""

from __future__ import annotations

import dataclasses
from typing import Any

from factorial_aws.aws import wiring
from factorial_aws.runtime.maintenance import sweep


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """Expire due hooks, send due wakes, re-send lost turn messages, expire finished trees."""
    container = wiring.container()
    with container.observer.invocation(context):
        report = sweep(container.store, container.dispatcher)
        container.observer.swept(report)
        container.observer.logger.info("sweep done", extra={"report": dataclasses.asdict(report)})
        return dataclasses.asdict(report)
