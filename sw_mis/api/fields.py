"""Marshmallow pieces shared by every API schema: UTC timestamps and the error body."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, fields


class UtcDateTime(fields.DateTime):
    """An RFC 3339 timestamp that always carries its offset.

    The database stores UTC; SQLite hands it back without a zone, and a bare
    ``2026-11-27T07:43:19`` is not a valid OpenAPI ``date-time``. A naive value is UTC.
    """

    def _serialize(self, value: dt.datetime | None, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class ErrorSchema(Schema):
    """Every API error: messages per flat field path (``_request`` for the request as a whole)."""

    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "Messages per flat field path, e.g. members.0.date_of_birth."},
    )
    error_id = fields.String(
        metadata={"description": "Quote it to support: it is in the server log (5xx only)."}
    )
