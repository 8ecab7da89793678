"""The turn function: SQS batches of turn and wake messages, with partial batch failures.

Each record is one :class:`~factorial_aws.core.records.QueueMessage`; a record whose turn raised
is reported in ``batchItemFailures`` (SQS delivers it again, then to the DLQ), a malformed one is
logged and acknowledged. ``openai`` is imported here, lazily: only this function pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from factorial_aws.aws import wiring

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from factorial_aws.llm.base import ModelClient

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def make_model(container: wiring.Wiring) -> ModelClient:
    """The OpenAI (or OpenAI-compatible) model client, built once per container."""
    from factorial_aws.llm.openai_client import OpenAIModel

    return OpenAIModel(
        api_key=container.model_api_key(), base_url=container.settings.openai_base_url
    )


def record_handler(record: SQSRecord) -> str:
    """One SQS record (Powertools requires the parameter name ``record``)."""
    return wiring.container().worker(make_model).handle_body(record.body)


def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Run every record of the batch; answer the ids of those to deliver again."""
    with wiring.container().observer.invocation(context):
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
