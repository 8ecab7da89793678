"""Who is calling: the IAM identity API Gateway puts in the event, and task ownership.

With ``require_iam`` (every deployed stack), the task routes and hook rotation are behind API
Gateway's ``AWS_IAM`` authorization, which puts the verified caller in
``requestContext.authorizer.iam``; a request without it is ``401 unauthorized``. The caller's
identity is its ``userArn`` (else ``userId``). For an assumed role, the ARN's session name is
dropped (``arn:aws:sts::123:assumed-role/Role/session`` -> ``arn:aws:sts::123:assumed-role/Role``):
session names change with every credential refresh of a Lambda or a container, and a task must
stay its owner's across them.

Ownership: a task created by an IAM caller belongs to that identity (``owner_id`` may be omitted,
or must equal it: ``403 forbidden`` otherwise). Reading, cancelling or steering a task of another
owner, or rotating one of its hooks, answers exactly like a missing task or hook (404), so ids
cannot be probed. Without ``require_iam`` (the local dev server) nothing is checked and
``owner_id`` is whatever the body says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from factorial_aws.aws.api_errors import ForbiddenError, UnauthorizedError
from factorial_aws.errors import HookNotFoundError, TaskNotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from factorial_aws.runtime.control import Control
    from factorial_aws.store.views import TaskView

_ASSUMED_ROLE = re.compile(r"^(arn:[^:]+:sts::[0-9]+:assumed-role/[^/]+)/.+$")
#: The paths of the routes behind IAM (``AWS_IAM`` in template.yaml): the task routes and rotate.
_IAM_ROUTE = re.compile(r"^/tasks(?:/.*)?$|^/hooks/[^/]+/rotate/?$")


def is_iam_route(path: str) -> bool:
    """Whether ``path`` is a route that needs an IAM-signed caller (when IAM is required)."""
    return _IAM_ROUTE.match(path) is not None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def iam_identity(event: Mapping[str, Any]) -> str | None:
    """The IAM caller of an HTTP API (payload v2) event, or None when the request is unsigned."""
    iam = _object(_object(_object(event.get("requestContext")).get("authorizer")).get("iam"))
    arn = iam.get("userArn")
    if isinstance(arn, str) and arn:
        match = _ASSUMED_ROLE.match(arn)
        return match.group(1) if match else arn
    user_id = iam.get("userId")
    return user_id if isinstance(user_id, str) and user_id else None


@dataclass(frozen=True)
class Access:
    """The access rules of one API (see the module docstring)."""

    control: Control
    require_iam: bool

    def caller(self, event: Mapping[str, Any]) -> str | None:
        """The caller's identity (None without ``require_iam``).

        Raises:
            UnauthorizedError: IAM is required and the request is not IAM-signed.
        """
        if not self.require_iam:
            return None
        identity = iam_identity(event)
        if identity is None:
            raise UnauthorizedError("this route needs an IAM-signed (SigV4) request")
        return identity

    def owner_for_create(self, caller: str | None, owner_id: str | None) -> str | None:
        """The owner of a new task: the IAM caller, or the body's ``owner_id`` without IAM.

        Raises:
            ForbiddenError: an IAM caller named another owner.
        """
        if caller is None:
            return owner_id
        if owner_id is not None and owner_id != caller:
            raise ForbiddenError("owner_id must be omitted or equal to the IAM caller's identity")
        return caller

    def task(self, caller: str | None, task_id: str) -> TaskView:
        """The task, if the caller may see it.

        Raises:
            TaskNotFoundError: no such task, or another owner's.
        """
        view = self.control.get_task(task_id)
        if caller is not None and view.owner_id != caller:
            raise TaskNotFoundError(f"no task {task_id!r}")
        return view

    def hook_task(self, caller: str | None, hook_id: str) -> None:
        """Check that the caller owns the hook's task.

        Raises:
            HookNotFoundError: no such hook, or a hook of another owner's task.
        """
        hook = self.control.describe_hook(hook_id)
        if caller is None:
            return
        try:
            self.task(caller, hook.task_id)
        except TaskNotFoundError:
            raise HookNotFoundError(f"no hook {hook_id!r}") from None
