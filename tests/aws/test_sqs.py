"""SqsTurnQueue against moto, and parse_body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from factorial_aws.aws import clients
from factorial_aws.aws.sqs import MalformedQueueMessageError, SqsTurnQueue, parse_body
from factorial_aws.core.records import QueueMessage
from factorial_aws.errors import InvalidInputError
from tests.aws.helpers import Recorder


@pytest.fixture
def queue(moto: None) -> tuple[Any, str]:
    client = clients.sqs()
    url = client.create_queue(QueueName="turns")["QueueUrl"]
    return client, url


def _receive(client: Any, url: str) -> list[dict[str, Any]]:
    response = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
    )
    messages: list[dict[str, Any]] = response.get("Messages", [])
    return messages


def test_send_without_delay_delivers_the_compact_json(queue: tuple[Any, str]) -> None:
    client, url = queue
    message = QueueMessage(kind="wake", task_id="t-1", seq=3, wait_id="w-9")
    SqsTurnQueue(client, url).send(message)
    [received] = _receive(client, url)
    body = received["Body"]
    assert json.loads(body) == {
        "v": 1,
        "kind": "wake",
        "task_id": "t-1",
        "seq": 3,
        "wait_id": "w-9",
        "hook_id": None,
    }
    assert " " not in body  # compact
    assert received["Attributes"]["ApproximateReceiveCount"] == "1"
    assert parse_body(body) == message


def test_delayed_message_is_not_receivable_immediately(queue: tuple[Any, str]) -> None:
    client, url = queue
    SqsTurnQueue(client, url).send(QueueMessage(task_id="t-2", seq=1), delay_s=2)
    assert _receive(client, url) == []
    attrs = client.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"


def test_send_passes_delay_seconds() -> None:
    client = Recorder()
    SqsTurnQueue(client, "https://q").send(QueueMessage(task_id="t"), delay_s=900)
    [(operation, kwargs)] = client.calls
    assert operation == "send_message"
    assert kwargs["DelaySeconds"] == 900
    assert kwargs["QueueUrl"] == "https://q"


@pytest.mark.parametrize("delay", [901, -1, True, 2.5])
def test_delay_out_of_range_is_rejected_before_any_call(delay: int) -> None:
    client = Recorder()
    with pytest.raises(ValueError, match="delay_s"):
        SqsTurnQueue(client, "https://q").send(QueueMessage(task_id="t"), delay_s=delay)
    assert client.calls == []


def test_oversized_body_is_rejected_before_any_call() -> None:
    client = Recorder()
    with pytest.raises(ValueError, match="ids only"):
        SqsTurnQueue(client, "https://q").send(QueueMessage(task_id="x" * (256 * 1024)))
    assert client.calls == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ("not json", "Invalid JSON"),
        ("", "Invalid JSON"),
        ("[1, 2]", "object"),
        ('{"kind": "turn"}', "task_id"),
        ('{"task_id": "t", "kind": "nap"}', "kind"),
        ('{"task_id": "t", "extra": 1}', "extra"),
    ],
)
def test_malformed_body_raises_a_clear_error(body: str, detail: str) -> None:
    with pytest.raises(MalformedQueueMessageError, match=detail) as info:
        parse_body(body)
    assert isinstance(info.value, InvalidInputError)
    assert info.value.code == "malformed_queue_message"
    assert "malformed queue message" in str(info.value)
