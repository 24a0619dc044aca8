"""Wire types shared by every domain's API: UTC datetimes, bounded integers, the problem document.

Datetimes are stored timezone-naive in UTC; :data:`UtcDateTime` sends them as ISO 8601 with ``Z``
(``format: date-time`` in the OpenAPI document). Integer parameters are bounded so a huge number is a
422, never an overflow in the database driver.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

INT32_MAX = 2**31 - 1  # ids and versions: the database's INTEGER
MAX_OFFSET = 10_000_000  # rows skipped by a paged list


def iso_utc(value: datetime) -> str:
    """``value`` (naive = UTC, or aware) as an ISO 8601 UTC string ending in ``Z``."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


UtcDateTime = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A datetime read as naive UTC (or aware) and sent as ``2026-01-31T08:00:00Z``."""

Limit = Annotated[int, Field(ge=1, le=1000, description="rows per page")]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET, description="rows to skip")]
Id = Annotated[int, Field(ge=1, le=INT32_MAX)]


class FieldProblem(BaseModel):
    """One wrong field of a request."""

    model_config = ConfigDict(extra="allow")
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldProblem] | None = None


PROBLEM_STATUSES = {
    401: "no or an unknown API key / session",
    403: "the caller's role or enterprise may not do this",
    404: "no such resource (or not the caller's)",
    409: "the resource's state does not allow this",
    413: "the request body is larger than the limit",
    422: "the request is not valid; its errors name each field",
    429: "too many requests; retry later",
}
