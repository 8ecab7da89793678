"""The HTTP API function: API Gateway HTTP API (payload v2) events -> the Powertools resolver.

Never imports ``openai`` (the API's cold start must not pay for it; a test checks).
"""

from __future__ import annotations

from typing import Any

from factorial_aws.aws import wiring


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answer one HTTP request."""
    container = wiring.container()
    with container.observer.invocation(context, event):
        return container.api.resolve(event, context)
