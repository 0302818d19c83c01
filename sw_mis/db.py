"""Database plumbing: the declarative base, engines, and one session per request or command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Predictable constraint names, so migrations can drop and alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin: otherwise
    # SAVEPOINTs (used by nested transactions and by the test suite) do not work.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys unless asked; WAL lets the demo serve reads while a job writes.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings sw-mis relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


#: Headers that describe the view's own body; the 503 that replaces it has its own.
_BODY_HEADERS = frozenset(
    {"content-type", "content-length", "content-disposition", "location", "etag", "last-modified"}
)


def init_app(app: Flask, engine: Engine | None = None) -> None:
    """Attach an engine and a session factory to ``app``; sessions end with the app context."""
    engine = engine or make_engine(app.config["DATABASE_URL"])
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    app.extensions["sw_mis.engine"] = engine
    app.extensions["sw_mis.sessionmaker"] = factory

    @app.after_request
    def _commit_at_the_edge(response):  # type: ignore[no-untyped-def]
        # One transaction per request: commit only a successful response; a refused one
        # (4xx/5xx, including 422 for an invalid form) writes nothing.
        session: Session | None = g.get("db_session")
        if session is not None:
            if response.status_code < 400:
                try:
                    session.commit()
                except DBAPIError as exc:
                    # The database went away (or refused) at the commit itself: the clerk must
                    # hear "not saved" (503), not the success the view had prepared.
                    with suppress(DBAPIError):
                        session.rollback()
                    from sw_mis.web.setup import database_unavailable

                    refused = database_unavailable(exc)
                    # This hook runs last: keep the security headers the others already set.
                    for key, value in response.headers.items():
                        if key not in refused.headers and key.lower() not in _BODY_HEADERS:
                            refused.headers[key] = value
                    return refused
            else:
                session.rollback()
        return response

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def get_engine(app: Flask | None = None) -> Engine:
    """Return the engine of ``app`` (default: the current app)."""
    return (app or current_app).extensions["sw_mis.engine"]


def get_session() -> Session:
    """Return the session of the current request or command, creating it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["sw_mis.sessionmaker"]()
    return g.db_session


@contextmanager
def session_scope(app: Flask) -> Iterator[Session]:
    """Run a unit of work outside a request: commit on success, roll back on error."""
    session: Session = app.extensions["sw_mis.sessionmaker"]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
