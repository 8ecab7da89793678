"""The HTTP API (docs/DESIGN.md section 8) as one Powertools ``APIGatewayHttpResolver``.

:func:`build_api` returns the resolver the API Lambda and the local dev server both serve: it
reads nothing but the API Gateway HTTP API (payload v2) event, so a local request turned into such
an event gets the same answer as on AWS. Routes live in :mod:`.api_tasks`, :mod:`.api_hooks` and
:mod:`.api_webhooks`,
statuses in :mod:`.api_errors`, shapes in :mod:`.api_models`, the hook page in :mod:`.api_html`,
who may do what in :mod:`.api_auth`.

Every error, including an unknown route (``404 not_found``), a body that is not JSON (``400
invalid_json``, also for a string holding a lone surrogate such as ``"\\ud800"``, which is valid
JSON but not Unicode text), a request that fails validation (``400 invalid_request``: Powertools'
422 is converted, and the OpenAPI document says 400) and a body over ``max_body_bytes`` (``413
payload_too_large``, checked before anything parses it), is ``{"error": {"code", "message"}}``.
Bad input never yields a 500; an unexpected exception is logged and answered ``500
internal_error``.

No ``from __future__ import annotations`` here: Powertools reads the route signatures at runtime.
"""

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as PowertoolsNotFound
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from factorial_aws.aws.api_auth import Access, iam_identity, is_iam_route
from factorial_aws.aws.api_errors import (
    JSON,
    error_body,
    error_response,
    response_for,
    status_for,
)
from factorial_aws.aws.api_hooks import hook_routes
from factorial_aws.aws.api_tasks import task_routes
from factorial_aws.aws.api_webhooks import webhook_routes
from factorial_aws.errors import FactorialError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from factorial_aws.aws.observability import Observer
    from factorial_aws.runtime.control import Control

log = logging.getLogger("factorial_aws.api")

DEFAULT_MAX_BODY_BYTES = 65536
TITLE = "factorial_aws"
VERSION = "1"
_MAX_VALIDATION_PROBLEMS = 5
#: A surrogate code point left after JSON decoding is a lone one (pairs decode to one character).
_SURROGATE = re.compile("[\ud800-\udfff]")


class FactorialApi(APIGatewayHttpResolver):
    """The resolver, refusing unsigned requests to IAM routes (401) and bodies over the cap
    (413) before any route, validation or parsing runs.

    Powertools keeps the request being served (``current_event``, ``lambda_context``) in class
    attributes of its ``BaseRouter``, shared by every resolver in the process: harmless on Lambda
    (one request per process), but two threads serving two requests, even on two resolvers, read
    each other's path, headers and body. Here they are attributes of the resolver, set by
    :meth:`resolve` before Powertools runs (the routers read them through their resolver), so
    resolvers that each serve one request at a time (the dev server's pool) are isolated.
    """

    def __init__(self, *, max_body_bytes: int, require_iam: bool) -> None:
        super().__init__(enable_validation=True)
        self.max_body_bytes = max_body_bytes
        self.require_iam = require_iam
        self._request: APIGatewayProxyEventV2 | None = None
        self._request_context: Any = None

    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEventV2:
        """The request this resolver is serving (its own, never another resolver's)."""
        if self._request is None:
            raise RuntimeError("current_event is only set while a request is served")
        return self._request

    @current_event.setter
    def current_event(self, value: APIGatewayProxyEventV2) -> None:
        self._request = value

    @property
    def lambda_context(self) -> Any:
        """The Lambda context of the request this resolver is serving."""
        return self._request_context

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._request_context = value

    def resolve(self, event: Mapping[str, Any], context: "LambdaContext") -> dict[str, Any]:
        """Answer one HTTP API (payload v2) event."""
        refused = self._refusal(event)
        if refused is not None:
            return refused
        self._hold(event, context)
        return super().resolve(event, context)

    async def resolve_async(
        self, event: Mapping[str, Any], context: "LambdaContext"
    ) -> dict[str, Any]:
        """:meth:`resolve` for async routes (none today; kept consistent with it)."""
        refused = self._refusal(event)
        if refused is not None:
            return refused
        self._hold(event, context)
        return await super().resolve_async(event, context)

    def _hold(self, event: Mapping[str, Any], context: Any) -> None:
        self.current_event = APIGatewayProxyEventV2(dict(event), self._json_body_deserializer)
        self.lambda_context = context

    def _refusal(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        path = event.get("rawPath")
        if self.require_iam and is_iam_route(str(path)) and iam_identity(event) is None:
            return _early(401, "unauthorized", "this route needs an IAM-signed (SigV4) request")
        if body_size(event) > self.max_body_bytes:
            message = f"the request body is over {self.max_body_bytes} bytes"
            return _early(413, "payload_too_large", message)
        problem = unreadable_body(event)
        if problem is not None:
            return _early(400, "invalid_json", problem)
        return None


def unreadable_body(event: Mapping[str, Any]) -> str | None:
    """Why the body cannot be read as JSON text (bad base64 or UTF-8, nesting too deep for the
    parser, a number over Python's digit limit), or None. Checked once, before the routes, so
    such input is a 400 wherever it is sent, never a 500."""
    body = event.get("body")
    if not isinstance(body, str) or not body.strip():
        return None
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else None
        text = raw.decode("utf-8") if raw is not None else body
    except (ValueError, UnicodeDecodeError):
        return "the request body is not UTF-8 text"
    try:
        value = json.loads(text)
    except RecursionError:
        return "the request body nests too deeply"
    except ValueError as exc:  # JSONDecodeError, or the int digit limit
        if isinstance(exc, json.JSONDecodeError):
            return None  # the routes answer malformed JSON themselves, with their own message
        return f"the request body cannot be read: {exc}"
    if has_lone_surrogate(value):
        return "the request body is not Unicode text: a lone surrogate such as \\ud800"
    return None


def has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a string (a key or a value) with a lone UTF-16 surrogate
    (``"\\ud800"`` is valid JSON but no Unicode text: it cannot be stored, logged or sent)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _early(status: int, code: str, message: str) -> dict[str, Any]:
    """An error answer given before the resolver runs (same shape as all the others)."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON, "Cache-Control": "no-store"},
        "body": json.dumps(error_body(code, message)),
        "isBase64Encoded": False,
        "cookies": [],
    }


def body_size(event: Mapping[str, Any]) -> int:
    """The size in bytes of the event's body, decoded (without decoding a base64 body)."""
    body = event.get("body")
    if not isinstance(body, str):
        return 0
    if event.get("isBase64Encoded"):
        padding = len(body) - len(body.rstrip("="))
        return max(0, len(body) * 3 // 4 - padding)
    return len(body.encode("utf-8", "surrogatepass"))


def build_api(
    control: "Control",
    *,
    require_iam: bool,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    observer: "Observer | None" = None,
) -> APIGatewayHttpResolver:
    """The API over ``control``.

    Args:
        control: the control plane every route calls.
        require_iam: task routes and hook rotation need an IAM-signed caller and only show the
            caller's own tasks (see :mod:`.api_auth`); False for the local dev server.
        max_body_bytes: larger request bodies are refused with 413 before parsing.
        observer: where resolve metrics go (none by default).
    """
    app = FactorialApi(max_body_bytes=max_body_bytes, require_iam=require_iam)
    access = Access(control, require_iam)
    app.include_router(task_routes(control, access))
    app.include_router(hook_routes(control, access, observer))
    app.include_router(webhook_routes(control))
    _add_error_handlers(app)

    document: list[str] = []  # built on first request: routes are fixed by then

    @app.get("/openapi.json", operation_id="openapi", include_in_schema=False)
    def openapi() -> Response[str]:
        if not document:
            document.append(json.dumps(openapi_document(app)))
        return Response(200, JSON, document[0])

    return app


def _add_error_handlers(app: APIGatewayHttpResolver) -> None:
    def factorial_error(exc: FactorialError) -> Response[str]:
        if status_for(exc) >= 500:
            log.error("%s on %s: %s", exc.code, _where(app), exc.message, exc_info=exc)
        return response_for(exc)

    def invalid_request(exc: RequestValidationError) -> Response[str]:
        problems = list(exc.errors())
        if any(p.get("type") == "json_invalid" for p in problems):
            return error_response(400, "invalid_json", "the body is not JSON")
        described = "; ".join(
            f"{'.'.join(str(part) for part in p.get('loc', ()))}: {p.get('msg', 'invalid')}"
            for p in problems[:_MAX_VALIDATION_PROBLEMS]
        )
        return error_response(400, "invalid_request", described or "invalid request")

    def unsupported(exc: RequestUnsupportedContentType) -> Response[str]:
        return error_response(415, "unsupported_media_type", "send JSON (application/json)")

    def store_down(exc: Exception) -> Response[str]:
        log.warning("store unavailable on %s: %s", _where(app), exc)
        return error_response(503, "store_unavailable", "the store is unavailable; retry")

    def bad_base64(exc: binascii.Error) -> Response[str]:
        return error_response(400, "invalid_input", "the body is not valid base64")

    def not_found(exc: PowertoolsNotFound) -> Response[str]:
        return error_response(404, "not_found", f"no route for {_where(app)}")

    def unexpected(exc: Exception) -> Response[str]:
        log.exception("unhandled error on %s", _where(app))
        request_id = (app.current_event.raw_event.get("requestContext") or {}).get("requestId")
        return error_response(500, "internal_error", f"internal error (request {request_id})")

    # the most specific class of a raised exception picks its handler (Powertools walks the MRO)
    app.exception_handler(FactorialError)(factorial_error)
    app.exception_handler(RequestValidationError)(invalid_request)
    app.exception_handler(RequestUnsupportedContentType)(unsupported)
    app.exception_handler([RedisConnectionError, RedisTimeoutError, RedisClusterException])(
        store_down
    )
    app.exception_handler(binascii.Error)(bad_base64)
    app.not_found(not_found)
    app.exception_handler(Exception)(unexpected)


def _where(app: APIGatewayHttpResolver) -> str:
    event = app.current_event.raw_event
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "?")
    return f"{method} {event.get('rawPath', '?')}"


def openapi_document(app: APIGatewayHttpResolver) -> dict[str, Any]:
    """The OpenAPI document of ``app``, with Powertools' 422 validation answers replaced by the
    400 :class:`~factorial_aws.aws.api_models.ErrorBody` answers this API really gives."""
    doc: dict[str, Any] = json.loads(app.get_openapi_json_schema(title=TITLE, version=VERSION))
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            entry = responses.get("422")
            if entry is not None and "HTTPValidationError" in json.dumps(entry):
                del responses["422"]
                responses.setdefault("400", _invalid_request_response())
    resolve = doc.get("paths", {}).get("/hooks/{hook_id}/resolve", {}).get("post")
    if resolve is not None:  # the route reads its body itself: any JSON object, checked by hook
        resolve["requestBody"] = {
            "required": True,
            "description": "The hook payload: validated by the hook's own type, whose JSON "
            "Schema GET /hooks/{hook_id} shows",
            "content": {JSON: {"schema": {"type": "object"}}},
        }
    webhook = doc.get("paths", {}).get("/webhooks/{name}", {}).get("post")
    if webhook is not None:  # the route reads the raw bytes: the signature is over them
        webhook["requestBody"] = {
            "required": True,
            "description": "The sender's event exactly as it signed it (JSON, or Slack's "
            "form-encoded payload); the signature headers of the source's scheme authorize it",
            "content": {
                JSON: {"schema": {"type": "object"}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            },
        }
    schemas = doc.get("components", {}).get("schemas", {})
    paths = json.dumps(doc.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        if f"#/components/schemas/{unused}" not in paths:
            schemas.pop(unused, None)
    return doc


def _invalid_request_response() -> dict[str, Any]:
    return {
        "description": "Invalid request (invalid_json, invalid_request)",
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
