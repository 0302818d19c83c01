"""Write audit events and security log lines."""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Session

from sw_mis.audit.models import AuditEvent

security_log = logging.getLogger("sw_mis.security")


def _clean(value: object) -> str:
    # CR/LF in user input must not forge log lines.
    return str(value).replace("\r", "\\r").replace("\n", "\\n")


def client_address() -> str:
    """Return the requesting address (the proxy's X-Forwarded-For is applied by ProxyFix)."""
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
    """Log a security event with user, address and fields (never secrets or national IDs)."""
    parts = [
        f"event={_clean(event)}",
        f"user={_clean(username)}",
        f"addr={_clean(client_address())}",
    ]
    parts += [f"{k}={_clean(v)}" for k, v in sorted(fields.items())]
    security_log.info(" ".join(parts))
