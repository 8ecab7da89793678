"""The hook routes: describe (JSON or an HTML form), resolve with the token, rotate the token.

``GET /hooks/{hook_id}`` is public and never resolves anything (mail scanners follow links): it
shows what the hook asks for (title, body, schema, status, expiry), never a token. Hook ids are
unguessable (a task id with 130 random bits, and a suffix keyed by the deployment secret, so the
holder of one hook's link cannot compute the task's other hook ids), so describe reveals nothing
to anyone who was not given the link. ``POST /hooks/{hook_id}/resolve`` is public too: the
token (the ``X-Hook-Token`` header, else ``?token=``) is what authorizes it, checked in the same
store call that resolves. The hook page without JavaScript posts its form there as
``application/x-www-form-urlencoded`` (token in a hidden field): that body is turned into the
payload by the hook's schema, and the answer is an HTML page. ``POST /hooks/{hook_id}/rotate`` is
a control-plane call (IAM, owner only).

No ``from __future__ import annotations`` here: Powertools reads the route signatures at runtime.
"""

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from factorial_aws.aws.api_auth import Access
from factorial_aws.aws.api_errors import (
    JSON,
    NO_STORE,
    InvalidJsonError,
    InvalidRequestError,
    status_for,
)
from factorial_aws.aws.api_html import (
    HTML,
    HTML_HEADERS,
    TOKEN_FIELD,
    form_payload,
    is_form,
    prefers_html,
    render_hook_page,
    render_result_page,
)
from factorial_aws.aws.api_models import (
    MAX_IDEMPOTENCY_KEY_CHARS,
    AcceptedOut,
    HookOut,
    ResolveOut,
    RotateOut,
    RotateRequest,
    documented,
)
from factorial_aws.aws.api_webhooks import headers_of, raw_body
from factorial_aws.errors import (
    FactorialError,
    HookAlreadyResolvedError,
    HookCancelledError,
    HookError,
    HookExpiredError,
    HookNotFoundError,
    HookTokenInvalidError,
    HookTypeUnknownError,
    InvalidSignatureError,
    StateCorruptedError,
)
from factorial_aws.runtime.control import Control
from factorial_aws.store.hooks import ResolveOutcome, ResolveResult

if TYPE_CHECKING:
    from pydantic import BaseModel

    from factorial_aws.aws.observability import Observer

#: Longest accepted token (ours are 43 characters).
MAX_TOKEN_CHARS = 256
#: A GitHub delivery id becomes the idempotency key ``github:<id>``: the header's limit leaves room
#: for the prefix, so every delivery id the schema accepts is a key the store accepts.
GITHUB_DELIVERY_PREFIX = "github:"
MAX_GITHUB_DELIVERY_CHARS = MAX_IDEMPOTENCY_KEY_CHARS - len(GITHUB_DELIVERY_PREFIX)
_TAGS = ["hooks"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_payload(text: str | None) -> dict[str, Any] | str:
    """The hook payload of a request body: a dict, or the text of any other JSON value (the
    hook's type then answers 422).

    Raises:
        InvalidJsonError: an empty body, or one that is not JSON.
    """
    if not text or not text.strip():
        raise InvalidJsonError("the body must be the hook payload, a JSON object")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise InvalidJsonError(f"the body is not JSON: {exc}") from None
    return value if isinstance(value, dict) else text


#: The refusals of a resolve: the outcome names the error, whose code names the HTTP status
#: (``api_errors.STATUS_BY_CODE``). The successes are 200 (resolved, idempotent) and 202
#: (accepted early).
RESOLVE_REFUSALS: Final[
    Mapping[ResolveOutcome, tuple[type[HookError] | type[InvalidSignatureError], str]]
] = {
    "not_found": (HookNotFoundError, "no hook {hook_id} with this token"),
    "already_resolved": (HookAlreadyResolvedError, "hook {hook_id} was resolved before"),
    "expired": (HookExpiredError, "hook {hook_id} has expired"),
    "cancelled": (HookCancelledError, "hook {hook_id} was cancelled"),
    "type_unknown": (
        HookTypeUnknownError,
        "hook {hook_id} has a type this deployment does not have; it cannot be resolved",
    ),
    "invalid_signature": (
        InvalidSignatureError,
        "hook {hook_id} waits on a webhook source: the request must carry its valid signature",
    ),
}


def resolve_answer(result: ResolveResult) -> Response[Any]:
    """The HTTP answer to a resolve's outcome (a refusal is raised as its error).

    Raises:
        HookError: the refusal of :data:`RESOLVE_REFUSALS` for the outcome.
    """
    if result.outcome in ("resolved", "idempotent"):
        status = "resolved" if result.outcome == "resolved" else "idempotent"
        out: BaseModel = ResolveOut(
            hook_id=result.hook_id,
            task_id=result.task_id,
            status=status,
            task_resumed=result.task_resumed,
        )
        return Response(200, JSON, out, headers=NO_STORE)
    if result.outcome == "accepted":
        out = AcceptedOut(hook_id=result.hook_id, task_id=result.task_id, status="accepted")
        return Response(202, JSON, out, headers=NO_STORE)
    refusal = RESOLVE_REFUSALS.get(result.outcome)
    if refusal is None:  # "checked" never leaves the control plane
        raise StateCorruptedError(f"resolve of {result.hook_id}: outcome {result.outcome!r}")
    error, message = refusal
    raise error(message.format(hook_id=result.hook_id))


def _check_rotate_body(text: str | None) -> None:
    """The rotate body is absent, ``null`` or a JSON object: Powertools' validation lets other
    JSON values through (``[null, null]`` became the defaults), so they are refused here.

    Raises:
        InvalidRequestError: any other JSON value (``400 invalid_request``).
    """
    if not text or not text.strip():
        return
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return  # Powertools answers 400 invalid_json for it
    if value is not None and not isinstance(value, dict):
        raise InvalidRequestError(
            'the body must be a JSON object such as {"revoke_previous": true}, or nothing'
        )


def hook_routes(control: Control, access: Access, observer: "Observer | None") -> Router:
    """A router with the hook routes of ``control`` (metrics to ``observer`` when given)."""
    router = Router()  # type: ignore[no-untyped-call]
    clock = control.dispatcher.clock

    @router.get(
        "/hooks/<hook_id>",
        operation_id="describe_hook",
        summary="What a hook asks for: JSON, or an HTML form for a browser",
        tags=_TAGS,
        responses={
            **documented(200, "The hook", 404),
            200: {
                "description": "The hook (an HTML page when Accept prefers text/html)",
                "content": {
                    JSON: {"model": HookOut},
                    "text/html": {"schema": {"type": "string"}},
                },
            },
        },
    )
    def describe_hook(hook_id: str) -> Response[Any]:
        view = control.describe_hook(hook_id)
        if prefers_html(router.current_event.headers.get("accept")):
            headers = {**HTML_HEADERS, "Vary": "Accept"}
            token = router.current_event.get_query_string_value("token")
            return Response(200, HTML, render_hook_page(view, token), headers=headers)
        out = HookOut.model_validate(view, from_attributes=True)  # HookOut's fields, no token
        return Response(200, JSON, out, headers={**NO_STORE, "Vary": "Accept"})

    @router.post(
        "/hooks/<hook_id>/resolve",
        operation_id="resolve_hook",
        summary="Resolve a hook: the body is the payload, the token authorizes it",
        tags=_TAGS,
        responses={
            **documented(200, "Resolved", 400, 401, 404, 409, 410, 413, 422),
            200: {
                "description": "Resolved (an HTML page when the hook page's form was posted)",
                "content": {
                    JSON: {"model": ResolveOut},
                    "text/html": {"schema": {"type": "string"}},
                },
            },
            202: {
                "description": "Accepted early: applied when the hook registers",
                "content": {JSON: {"model": AcceptedOut}},
            },
        },
    )
    def resolve_hook(
        hook_id: str,
        token: Annotated[str | None, Query(max_length=MAX_TOKEN_CHARS)] = None,
        x_hook_token: Annotated[
            str | None, Header(alias="X-Hook-Token", max_length=MAX_TOKEN_CHARS)
        ] = None,
        idempotency_key: Annotated[
            str | None, Header(alias="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY_CHARS)
        ] = None,
        x_github_delivery: Annotated[
            str | None, Header(alias="X-GitHub-Delivery", max_length=MAX_GITHUB_DELIVERY_CHARS)
        ] = None,
    ) -> Response[Any]:
        # GitHub names each delivery and redelivers with the same name: a redelivered webhook
        # replays (200 idempotent) instead of conflicting (409).
        idempotency_key = idempotency_key or (
            f"{GITHUB_DELIVERY_PREFIX}{x_github_delivery}" if x_github_delivery else None
        )
        given = x_hook_token or token
        if is_form(router.current_event.headers.get("content-type")):
            body = router.current_event.decoded_body or ""
            return resolve_form(control, observer, hook_id, body, given)
        if not given:
            raise HookTokenInvalidError("a hook token is required (X-Hook-Token or ?token=)")
        payload = parse_payload(router.current_event.decoded_body)
        started = clock.monotonic()
        # a hook with source= also needs its source's signature (checked by the store call)
        event = router.current_event
        signed = control.signed_sources(raw_body(event), headers_of(event))
        result = control.resolve_hook(
            hook_id, payload, given, idempotency_key or None, signed_by=signed
        )
        if observer is not None and result.outcome == "resolved":
            observer.hook_resolved(clock.monotonic() - started)
        if observer is not None and result.outcome == "expired" and result.task_resumed:
            observer.hooks_expired(1)
        return resolve_answer(result)

    @router.post(
        "/hooks/<hook_id>/rotate",
        operation_id="rotate_hook_token",
        summary="Issue a new token for an open hook (shown once)",
        tags=_TAGS,
        responses=documented(200, "The new token", 400, 401, 404, 409, 410),
    )
    def rotate_hook_token(
        hook_id: str, body: Annotated[RotateRequest | None, Body()] = None
    ) -> Response[RotateOut]:
        _check_rotate_body(router.current_event.decoded_body)
        access.hook_task(access.caller(router.current_event.raw_event), hook_id)
        revoke = body.revoke_previous if body is not None else True
        rotated = control.rotate_hook_token(hook_id, revoke_previous=revoke)
        out = RotateOut.model_validate(rotated, from_attributes=True)
        return Response(200, JSON, out, headers=NO_STORE)

    return router


def resolve_form(
    control: Control, observer: "Observer | None", hook_id: str, body: str, given: str | None
) -> Response[Any]:
    """The hook page's form, posted without JavaScript: fields by the schema, an HTML answer
    (errors keep their status and say what went wrong)."""
    title = "Not submitted"
    try:
        view = control.describe_hook(hook_id)
        title = view.title or "Input requested"
        try:
            payload, field_token = form_payload(body, view.schema)
        except ValueError as exc:
            raise InvalidJsonError(f"Not submitted: {exc}") from None
        if not (given or field_token):
            raise HookTokenInvalidError(f"a hook token is required ({TOKEN_FIELD} field)")
        started = control.dispatcher.clock.monotonic()
        result = control.resolve_hook(hook_id, payload, given or field_token or "")
        resolve_answer(result)  # raises the refusal, if it is one
    except FactorialError as exc:
        message = exc.message.replace(f"no hook {hook_id}", "no such request")
        message = message.replace(f"hook {hook_id}", "this request")
        page = render_result_page(title, ok=False, message=message)
        return Response(status_for(exc), HTML, page, headers=HTML_HEADERS)
    if observer is not None and result.outcome == "resolved":
        observer.hook_resolved(control.dispatcher.clock.monotonic() - started)
    page = render_result_page(title, ok=True, message="Submitted. Thank you.")
    return Response(200, HTML, page, headers=HTML_HEADERS)
