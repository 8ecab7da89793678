"""The one serialization path: records to bytes and back (JSON, with a ``v`` field in contexts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from factorial_aws.core.records import JsonValue

M = TypeVar("M", bound=BaseModel)


def encode(record: BaseModel) -> bytes:
    """Encode a record as compact JSON (aliases used, so it round-trips through :func:`decode`)."""
    return record.model_dump_json(by_alias=True, exclude_defaults=False).encode()


def decode(model: type[M], data: bytes | str) -> M:
    """Decode bytes produced by :func:`encode` into ``model``."""
    return model.model_validate_json(data)


def to_jsonable(record: BaseModel) -> dict[str, JsonValue]:
    """A JSON-compatible dict of a record (for HTTP bodies and events)."""
    return record.model_dump(mode="json", by_alias=True)
