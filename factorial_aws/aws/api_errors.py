"""The HTTP API's errors: the one status table, the API-only error codes and the error body.

Every error answer is ``{"error": {"code": "<stable code>", "message": "..."}}``. The status of
a :class:`~factorial_aws.errors.FactorialError` comes from :data:`STATUS_BY_CODE` (exact code),
else 400 for any input error (``InvalidInputError`` and its subclasses, and any other
``invalid_*`` code that is not a server-side definition error), else 500. Nothing else in the API
decides a status for an error.

Decisions: request-shape errors found by Powertools validation are ``400 invalid_request`` (not
Powertools' 422), so that 422 always means "the hook payload does not match the hook's schema";
a body that is not JSON is ``400 invalid_json``; a missing hook token is ``401
hook_token_invalid``; a wrong one is ``404 hook_not_found`` (the store answers a wrong token and an
unknown hook the same, so hook ids cannot be probed).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.event_handler import Response

from factorial_aws.errors import DefinitionError, FactorialError, InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The caching header of every API answer (none may be cached: they carry live state).
NO_STORE: Final[Mapping[str, str]] = {"Cache-Control": "no-store"}

#: The HTTP status of each stable error code.
STATUS_BY_CODE: Final[Mapping[str, int]] = {
    # the request itself
    "invalid_input": 400,
    "invalid_json": 400,
    "invalid_request": 400,
    "unauthorized": 401,
    "hook_token_invalid": 401,
    "invalid_signature": 401,
    "forbidden": 403,
    "payload_too_large": 413,
    "context_too_large": 413,
    "unsupported_media_type": 415,
    # what it refers to
    "not_found": 404,
    "task_not_found": 404,
    "hook_not_found": 404,
    "unknown_agent": 404,
    "unknown_source": 404,
    "hook_already_resolved": 409,
    "hook_rotation_conflict": 409,
    "hook_cancelled": 409,
    "hook_type_unknown": 409,
    "idempotency_conflict": 409,
    "task_finished": 409,
    "hook_expired": 410,
    "hook_payload_invalid": 422,
    "invalid_tool_arguments": 422,
    # the service
    "store_unavailable": 503,
    "webhook_not_configured": 503,
}

#: Seconds a client should wait before retrying a 503.
RETRY_AFTER_S = 1

JSON = "application/json"


class NotFoundError(FactorialError):
    """No route for this method and path."""

    code = "not_found"


class InvalidJsonError(InvalidInputError):
    """The request body is not JSON."""

    code = "invalid_json"


class InvalidRequestError(InvalidInputError):
    """The request does not have the documented shape (fields, types, query, headers)."""

    code = "invalid_request"


class UnsupportedMediaTypeError(InvalidInputError):
    """The request body is in a content type the API does not read (send JSON)."""

    code = "unsupported_media_type"


class UnauthorizedError(FactorialError):
    """The route needs an IAM-signed caller and the request is not signed."""

    code = "unauthorized"


class ForbiddenError(FactorialError):
    """The caller is known but may not do this."""

    code = "forbidden"


def status_for(error: FactorialError) -> int:
    """The HTTP status of ``error`` (see the module docstring for the rule)."""
    status = STATUS_BY_CODE.get(error.code)
    if status is not None:
        return status
    if isinstance(error, InvalidInputError):
        return 400
    if error.code.startswith("invalid_") and not isinstance(error, DefinitionError):
        return 400
    return 500


def error_body(code: str, message: str) -> dict[str, Any]:
    """The error body: ``{"error": {"code": ..., "message": ...}}``."""
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response[str]:
    """A JSON error answer (``Cache-Control: no-store``; ``Retry-After`` on a 503)."""
    all_headers = {**NO_STORE, **(headers or {})}
    if status == 503:
        all_headers.setdefault("Retry-After", str(RETRY_AFTER_S))
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(error_body(code, message)),
        headers=all_headers,
    )


def response_for(error: FactorialError) -> Response[str]:
    """The answer to a :class:`FactorialError` (server errors say no more than their code)."""
    status = status_for(error)
    if status == 503:
        message = "the service is unavailable; retry"
    elif status >= 500:
        message = f"internal error ({error.code})"
    else:
        message = error.message
    return error_response(status, error.code, message)
