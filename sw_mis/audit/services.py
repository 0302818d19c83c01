"""Write and search audit events; write security log lines."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent

security_log = logging.getLogger("sw_mis.security")


_PLAIN = re.compile(r"[A-Za-z0-9._:@/+-]*")


def _clean(value: object) -> str:
    # User input must not forge log lines (CR/LF, other line breaks) nor extra key=value fields
    # (spaces, '='): anything but plain characters is written as an escaped JSON string.
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


def client_address() -> str:
    """Return the requesting address (behind a proxy, only once ProxyFix trusts it)."""
    return (request.remote_addr or "") if has_request_context() else ""


def record_event(
    session: Session,
    action: str,
    *,
    object_type: str = "",
    object_ref: str = "",
    details: dict[str, Any] | None = None,
    user: Any = None,
) -> AuditEvent:
    """Append an audit event for the current user (or ``user``) and flush it."""
    if user is None and has_request_context() and current_user.is_authenticated:
        user = current_user
    event = AuditEvent(
        user_id=getattr(user, "id", None),
        username=getattr(user, "username", "") or "",
        address=client_address(),
        action=action,
        object_type=object_type,
        object_ref=object_ref,
        details=details or {},
    )
    session.add(event)
    session.flush()
    return event


def log_security(event: str, *, username: str = "", **fields: object) -> None:
    """Log a security event with time, user, address and fields (never secrets or national IDs).

    Every value is escaped, so CR/LF in user input cannot start a forged log line.
    """
    parts = [
        f"at={dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"event={_clean(event)}",
        f"user={_clean(username)}",
        f"addr={_clean(client_address())}",
    ]
    parts += [f"{k}={_clean(v)}" for k, v in sorted(fields.items())]
    security_log.info(" ".join(parts))


@dataclass(frozen=True)
class EventPage:
    """One page of audit events and how many matched in all."""

    items: list[AuditEvent]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """Return the number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))


def read_events(
    session: Session,
    *,
    username: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_ref: str | None = None,
    since: dt.datetime | dt.date | None = None,
    until: dt.datetime | dt.date | None = None,
    page: int = 1,
    per_page: int = 50,
) -> EventPage:
    """Return audit events matching every given filter, newest first, one page at a time.

    ``action`` ending in ``.`` or ``*`` matches a prefix (``household.`` finds every household
    action); dates are inclusive, a date ``until`` covering that whole day.
    """
    query = select(AuditEvent)
    if username:
        query = query.where(AuditEvent.username == username.strip())
    if action:
        action = action.strip()
        if action.endswith(("*", ".")):
            prefix = action.rstrip("*")
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(AuditEvent.action.like(escaped + "%", escape="\\"))
        else:
            query = query.where(AuditEvent.action == action)
    if object_type:
        query = query.where(AuditEvent.object_type == object_type.strip())
    if object_ref:
        query = query.where(AuditEvent.object_ref == object_ref.strip())
    if since is not None:
        query = query.where(AuditEvent.at >= _start(since))
    if until is not None:
        end = _start(until)
        if not isinstance(until, dt.datetime):
            end += dt.timedelta(days=1)
            query = query.where(AuditEvent.at < end)
        else:
            query = query.where(AuditEvent.at <= end)
    per_page = max(1, min(per_page, 500))
    page = max(1, page)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return EventPage(list(items), page, per_page, total)


def _start(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
