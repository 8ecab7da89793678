"""The SQS adapter of the turn queue port: :class:`SqsTurnQueue`, and :func:`parse_body` for the
turn handler.

A message body is the compact JSON of one :class:`~factorial_aws.core.records.QueueMessage`
(ids only). Wake schedules deliver the same JSON as their target ``Input``, so one parser reads
both.
"""

from __future__ import annotations

from typing import Any

import pydantic

from factorial_aws.core.codec import decode, encode
from factorial_aws.core.records import QueueMessage
from factorial_aws.errors import InvalidInputError
from factorial_aws.runtime.ports import MAX_QUEUE_DELAY_S

#: Bodies must stay under this many bytes. SQS takes 1 MiB, but turn messages carry ids only,
#: so anything near this is a bug (a transcript leaking into a message), not a real message.
MAX_BODY_BYTES = 256 * 1024

_SNIPPET_CHARS = 120


class MalformedQueueMessageError(InvalidInputError):
    """An SQS (or schedule) body that is not a valid turn queue message."""

    code = "malformed_queue_message"


class SqsTurnQueue:
    """A :class:`~factorial_aws.runtime.ports.TurnQueue` backed by one standard SQS queue.

    Args:
        client: a boto3 SQS client.
        queue_url: the queue's URL.
    """

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self.queue_url = queue_url

    def send(self, message: QueueMessage, delay_s: int = 0) -> None:
        """Send ``message``, delivered after ``delay_s`` seconds (0..900).

        Raises:
            ValueError: ``delay_s`` outside 0..900, or a body of 256 KiB or more; nothing is sent.
        """
        if type(delay_s) is not int or not 0 <= delay_s <= MAX_QUEUE_DELAY_S:
            raise ValueError(f"delay_s must be an int in 0..{MAX_QUEUE_DELAY_S}, got {delay_s!r}")
        body = encode_body(message)
        self._client.send_message(QueueUrl=self.queue_url, MessageBody=body, DelaySeconds=delay_s)


def encode_body(message: QueueMessage) -> str:
    """The body of ``message``: compact JSON, checked to be under :data:`MAX_BODY_BYTES`."""
    data = encode(message)
    if len(data) >= MAX_BODY_BYTES:
        raise ValueError(
            f"queue message of {len(data)} bytes for task {message.task_id!r}: "
            f"messages carry ids only and must stay under {MAX_BODY_BYTES} bytes"
        )
    return data.decode()


def parse_body(body: str) -> QueueMessage:
    """The :class:`QueueMessage` in an SQS body.

    Raises:
        MalformedQueueMessageError: not JSON, or not a valid queue message (the error quotes the
            start of the body).
    """
    try:
        return decode(QueueMessage, body)
    except pydantic.ValidationError as exc:
        snippet = body[:_SNIPPET_CHARS] + ("..." if len(body) > _SNIPPET_CHARS else "")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
        raise MalformedQueueMessageError(
            f"malformed queue message ({problems}): {snippet!r}"
        ) from None
