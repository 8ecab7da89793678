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
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from factorial_aws.aws.api_auth import Access
from factorial_aws.aws.api_errors import JSON, InvalidJsonError, status_for
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
    HookOut,
    ResolveOut,
    RotateOut,
    RotateRequest,
    documented,
)
from factorial_aws.errors import FactorialError, HookExpiredError, HookTokenInvalidError
from factorial_aws.runtime.control import Control

if TYPE_CHECKING:
    from factorial_aws.aws.observability import Observer

#: Longest accepted token (ours are 43 characters).
MAX_TOKEN_CHARS = 256
_TAGS = ["hooks"]
_NO_STORE = {"Cache-Control": "no-store"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_payload(text: str | None) -> dict[str, Any] | str:
    """The hook payload of a request body: a dict, or the text of any other JSON value (the
    store then answers 422, after checking the token).

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
        out = HookOut(
            hook_id=view.hook_id,
            task_id=view.task_id,
            title=view.title,
            body=view.body,
            status=view.status,
            expires_at=view.expires_at,
            schema=view.schema,
        )
        return Response(200, JSON, out, headers={**_NO_STORE, "Vary": "Accept"})

    @router.post(
        "/hooks/<hook_id>/resolve",
        operation_id="resolve_hook",
        summary="Resolve a hook: the body is the payload, the token authorizes it",
        tags=_TAGS,
        responses={
            **documented(200, "Accepted", 400, 401, 404, 409, 410, 413, 422),
            200: {
                "description": "Accepted (an HTML page when the hook page's form was posted)",
                "content": {
                    JSON: {"model": ResolveOut},
                    "text/html": {"schema": {"type": "string"}},
                },
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
            str | None, Header(alias="X-GitHub-Delivery", max_length=MAX_IDEMPOTENCY_KEY_CHARS)
        ] = None,
    ) -> Response[Any]:
        # GitHub names each delivery and redelivers with the same name: a redelivered webhook
        # replays (200 idempotent) instead of conflicting (409).
        idempotency_key = idempotency_key or (
            f"github:{x_github_delivery}" if x_github_delivery else None
        )
        given = x_hook_token or token
        if is_form(router.current_event.headers.get("content-type")):
            body = router.current_event.decoded_body or ""
            return resolve_form(control, observer, hook_id, body, given)
        if not given:
            raise HookTokenInvalidError("a hook token is required (X-Hook-Token or ?token=)")
        payload = parse_payload(router.current_event.decoded_body)
        started = clock.monotonic()
        try:
            result = control.resolve_hook(hook_id, payload, given, idempotency_key or None)
        except HookExpiredError as exc:
            if observer is not None and getattr(exc, "task_resumed", False):
                observer.hooks_expired(1)
            raise
        if observer is not None and result.status == "resolved":
            observer.hook_resolved(clock.monotonic() - started)
        out = ResolveOut(
            hook_id=result.hook_id,
            task_id=result.task_id,
            status=result.status,
            task_resumed=result.task_resumed,
        )
        return Response(200, JSON, out)

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
        access.hook_task(access.caller(router.current_event.raw_event), hook_id)
        revoke = body.revoke_previous if body is not None else True
        rotated = control.rotate_hook_token(hook_id, revoke_previous=revoke)
        out = RotateOut(
            hook_id=rotated.hook_id, token=rotated.token, version=rotated.version, link=rotated.link
        )
        return Response(200, JSON, out, headers=_NO_STORE)

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
    except FactorialError as exc:
        message = exc.message.replace(f"no hook {hook_id}", "no such request")
        message = message.replace(f"hook {hook_id}", "this request")
        page = render_result_page(title, ok=False, message=message)
        return Response(status_for(exc), HTML, page, headers=HTML_HEADERS)
    if observer is not None and result.status == "resolved":
        observer.hook_resolved(control.dispatcher.clock.monotonic() - started)
    page = render_result_page(title, ok=True, message="Submitted. Thank you.")
    return Response(200, HTML, page, headers=HTML_HEADERS)
