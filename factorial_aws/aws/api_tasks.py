"""The task routes: create, list, read, page through events, cancel, steer (docs/DESIGN.md
section 8).

Each route is one control-plane call (:class:`~factorial_aws.runtime.control.Control`) after the
access check of :mod:`factorial_aws.aws.api_auth`. A replayed ``Idempotency-Key`` on create
answers ``201`` with the same task id, like the first call (and sends nothing). ``GET /tasks``
lists one owner's tasks: the IAM caller's (naming another ``owner_id`` is ``403 forbidden``, as on
create); without IAM (the dev server) ``owner_id`` is required, since there is no index of every
task.

No ``from __future__ import annotations`` here: Powertools reads the route signatures at runtime.
"""

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query

from factorial_aws.aws.api_auth import Access
from factorial_aws.aws.api_models import (
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_OWNER_CHARS,
    CancelOut,
    CreateTaskRequest,
    ErrorDetail,
    EventOut,
    EventsPage,
    PendingHookOut,
    SteerOut,
    SteerRequest,
    TaskOut,
    TaskRef,
    TasksPage,
    TaskSummaryOut,
    documented,
)
from factorial_aws.core.status import TaskStatus
from factorial_aws.errors import InvalidInputError
from factorial_aws.runtime.control import Control
from factorial_aws.store import views

#: Largest page of events.
MAX_EVENTS_PAGE = 1000
DEFAULT_EVENTS_PAGE = 100
#: Longest accepted task-list cursor (``<ms>:<task id>``).
MAX_TASKS_CURSOR_CHARS = 300

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=MAX_IDEMPOTENCY_KEY_CHARS,
        description="Makes the request safe to retry: the same key answers the same result",
    ),
]
_TAGS = ["tasks"]


def task_out(view: views.TaskView) -> TaskOut:
    """The API shape of a task view (no tokens: the view never has any)."""
    return TaskOut(
        task_id=view.task_id,
        agent=view.agent,
        status=view.status,
        turn=view.turn,
        output=view.output,
        error=ErrorDetail(**view.error) if view.error else None,
        pending_hooks=[
            PendingHookOut(
                hook_id=h.hook_id, title=h.title, status=h.status, expires_at=h.expires_at
            )
            for h in view.pending_hooks
        ],
        parent_id=view.parent_id,
        children=list(view.children),
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def task_routes(control: Control, access: Access) -> Router:
    """A router with the task routes of ``control``."""
    router = Router()  # type: ignore[no-untyped-call]

    def caller() -> str | None:
        return access.caller(router.current_event.raw_event)

    @router.post(
        "/tasks",
        status_code=201,
        operation_id="create_task",
        summary="Create a task and queue its first turn",
        tags=_TAGS,
        responses=documented(
            201, "The task (the same one for a replayed key)", 400, 401, 403, 404, 409, 413
        ),
    )
    def create_task(
        body: Annotated[CreateTaskRequest, Body()], idempotency_key: IdempotencyKey = None
    ) -> TaskRef:
        owner = access.owner_for_create(caller(), body.owner_id)
        created = control.create_task(
            body.agent, body.input, owner_id=owner, idempotency_key=idempotency_key or None
        )
        return TaskRef(task_id=created.task_id, status=created.status)

    @router.get(
        "/tasks",
        operation_id="list_tasks",
        summary="The owner's tasks (roots and children), newest first",
        tags=_TAGS,
        responses=documented(200, "A page of tasks", 400, 401, 403),
    )
    def list_tasks(
        owner_id: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_OWNER_CHARS,
                description="Whose tasks: with IAM, omit it or give the caller's identity; "
                "required without IAM",
            ),
        ] = None,
        status: Annotated[TaskStatus | None, Query(description="Only tasks in this status")] = None,
        limit: Annotated[
            int, Query(ge=1, le=views.MAX_TASKS_PAGE, description="At most this many tasks")
        ] = views.DEFAULT_TASKS_PAGE,
        after: Annotated[
            str | None,
            Query(
                max_length=MAX_TASKS_CURSOR_CHARS,
                description="The next of the previous page: the tasks after it",
            ),
        ] = None,
    ) -> TasksPage:
        # the same rule as create: an IAM caller is the owner, and may only name itself
        owner = access.owner_for_create(caller(), owner_id)
        if owner is None:
            raise InvalidInputError("owner_id is required (without IAM there is no caller)")
        page = control.list_tasks(
            owner, status=status.value if status else None, limit=limit, after=after or None
        )
        tasks = [
            TaskSummaryOut(
                task_id=t.task_id,
                agent=t.agent,
                status=t.status,
                turn=t.turn,
                created_at=t.created_at,
                updated_at=t.updated_at,
                parent_id=t.parent_id,
            )
            for t in page.tasks
        ]
        return TasksPage(tasks=tasks, next=page.next)

    @router.get(
        "/tasks/<task_id>",
        operation_id="get_task",
        summary="A task, with the hooks it waits on",
        tags=_TAGS,
        responses=documented(200, "The task", 401, 404),
    )
    def get_task(task_id: str) -> TaskOut:
        return task_out(access.task(caller(), task_id))

    @router.get(
        "/tasks/<task_id>/events",
        operation_id="list_task_events",
        summary="The task's events after a cursor, oldest first",
        tags=_TAGS,
        responses=documented(200, "A page of events", 400, 401, 404),
    )
    def list_task_events(
        task_id: str,
        after: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_EVENTS_PAGE)] = DEFAULT_EVENTS_PAGE,
    ) -> EventsPage:
        access.task(caller(), task_id)
        page = views.read_events(control.store, task_id, after or None, limit)
        events = [EventOut(id=e.id, kind=e.kind, data=e.data, at=e.at) for e in page]
        return EventsPage(events=events, next=events[-1].id if events else None)

    @router.post(
        "/tasks/<task_id>/cancel",
        operation_id="cancel_task",
        summary="Cancel a task, its parked hooks and its descendants",
        tags=_TAGS,
        responses=documented(200, "The cancelled tasks", 401, 404, 409),
    )
    def cancel_task(task_id: str) -> CancelOut:
        access.task(caller(), task_id)
        cancelled = control.cancel_task(task_id)
        return CancelOut(task_id=task_id, cancelled=list(cancelled))

    @router.post(
        "/tasks/<task_id>/steer",
        status_code=202,
        operation_id="steer_task",
        summary="Queue a user message for the task's next turn",
        tags=_TAGS,
        responses=documented(202, "Queued for the next turn", 400, 401, 404, 409, 413),
    )
    def steer_task(task_id: str, body: Annotated[SteerRequest, Body()]) -> SteerOut:
        access.task(caller(), task_id)
        control.steer_task(task_id, body.text)
        return SteerOut(task_id=task_id)

    return router
