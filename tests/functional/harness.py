"""Drive the three Lambda handlers the way AWS does: API Gateway HTTP API (payload v2) events,
SQS batches received from the (moto) turn queue, and scheduler "firings" built from a schedule's
target input. Sample events come from tests/events/*.json."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import handlers.api
import handlers.maintenance
import handlers.turn
from factorial_aws.aws import wiring
from factorial_aws.core import ids
from factorial_aws.testing import FakeClock, StubReply

EVENTS = Path(__file__).resolve().parents[1] / "events"
CALLER_ARN = "arn:aws:sts::123456789012:assumed-role/backend/backend-session"
CALLER = "arn:aws:sts::123456789012:assumed-role/backend"
OTHER_CALLER_ARN = "arn:aws:iam::123456789012:user/mallory"

Rule = Callable[[dict[str, Any]], StubReply]


def load_event(name: str) -> dict[str, Any]:
    """A sample event from tests/events (a fresh copy)."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    caller_arn: str | None = CALLER_ARN,
    raw_body: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An HTTP API v2 event shaped like tests/events/api_post_task.json."""
    event = load_event("api_post_task.json")
    event["routeKey"] = "$default"
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["requestId"] = uuid.uuid4().hex
    event["headers"] = {"accept": "application/json", "content-type": "application/json"}
    event["headers"].update({k.lower(): v for k, v in (headers or {}).items()})
    if caller_arn is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["iam"]["userArn"] = caller_arn
    event["rawQueryString"] = urlencode(query or {})
    if query:
        event["queryStringParameters"] = dict(query)
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if text is None:
        event.pop("body", None)
    elif base64_body:
        event["body"], event["isBase64Encoded"] = base64.b64encode(text.encode()).decode(), True
    else:
        event["body"] = text
    return event


def sqs_event(bodies: list[str], queue_arn: str) -> dict[str, Any]:
    """An SQS batch event shaped like tests/events/sqs_turn.json, one record per body."""
    template = load_event("sqs_turn.json")["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        record.update(messageId=str(uuid.uuid4()), body=body, eventSourceARN=queue_arn)
        records.append(record)
    return {"Records": records}


@dataclass
class LambdaContext:
    """Just enough of a Lambda context object."""

    function_name: str = "factorial-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:factorial-test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Answer:
    """An HTTP answer of the API handler."""

    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def code(self) -> str:
        return str(self.json()["error"]["code"])


class SqsSpy:
    """A boto3 SQS client that records every send_message (moto still does the work)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return self._client.send_message(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class Harness:
    """One stack: wiring installed as the container's, the moto queue, scheduler and clock."""

    wiring: wiring.Wiring
    sqs: SqsSpy
    scheduler: Any
    queue_url: str
    queue_arn: str
    clock: FakeClock
    secret: bytes
    failures: list[str] = field(default_factory=list)

    # --- API --------------------------------------------------------------------------------

    def http(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        result = handlers.api.handler(http_event(method, path, body, **kwargs), LambdaContext())
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        return Answer(int(result["statusCode"]), headers, result.get("body") or "")

    def create(self, agent: str, text: str, **kwargs: Any) -> str:
        answer = self.http("POST", "/tasks", {"agent": agent, "input": text}, **kwargs)
        assert answer.status == 201, answer.text
        return str(answer.json()["task_id"])

    def task(self, task_id: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.http("GET", f"/tasks/{task_id}", **kwargs)
        assert answer.status == 200, answer.text
        task: dict[str, Any] = answer.json()
        return task

    def token(self, hook_id: str, version: int = 1) -> str:
        return ids.hook_token(self.secret, hook_id, version)

    def resolve(
        self, hook_id: str, payload: Any, token: str | None = None, **kwargs: Any
    ) -> Answer:
        headers = {"X-Hook-Token": token or self.token(hook_id), **kwargs.pop("headers", {})}
        return self.http("POST", f"/hooks/{hook_id}/resolve", payload, headers=headers, **kwargs)

    # --- turn queue ---------------------------------------------------------------------------

    def receive(self) -> list[dict[str, Any]]:
        """The visible messages of the turn queue (received; deleted once handled)."""
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def deliver(self, *bodies: str) -> dict[str, Any]:
        """Call the turn handler with a batch of these bodies (not taken from the queue)."""
        result: dict[str, Any] = dict(
            handlers.turn.handler(sqs_event(list(bodies), self.queue_arn), LambdaContext())
        )
        return result

    def run_turns(self, max_batches: int = 50) -> int:
        """Feed visible queue messages to the turn handler until the queue is quiet; like the
        event source mapping, delete each message that did not fail. Returns how many."""
        handled = 0
        for _ in range(max_batches):
            messages = self.receive()
            if not messages:
                return handled
            event = sqs_event([m["Body"] for m in messages], self.queue_arn)
            for record, message in zip(event["Records"], messages, strict=True):
                record["messageId"] = message["MessageId"]
            result = handlers.turn.handler(event, LambdaContext())
            failed = {str(f["itemIdentifier"]) for f in result["batchItemFailures"]}
            self.failures.extend(failed)
            for message in messages:
                if message["MessageId"] not in failed:
                    self.sqs.delete_message(
                        QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                    )
            handled += len(messages)
        raise AssertionError("the turn queue never went quiet")

    def delayed(self) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )
        return int(attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"])

    def sweep(self) -> dict[str, Any]:
        result: dict[str, Any] = handlers.maintenance.handler(
            load_event("scheduled.json"), LambdaContext()
        )
        return result

    def schedule(self, name: str) -> dict[str, Any]:
        group = self.wiring.settings.scheduler_group
        found: dict[str, Any] = self.scheduler.get_schedule(Name=name, GroupName=group)
        return found
