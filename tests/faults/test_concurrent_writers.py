"""50 clerks saving the same households at once: each save wins or gets 409, none is lost."""

from __future__ import annotations

import collections
import itertools
import threading
import time

import pytest
from sqlalchemy import select, text

from sw_mis.auth import testing as auth_testing
from sw_mis.db import session_scope
from sw_mis.registry.models import ChangeRecord, Household
from tests.factories import default_areas, make_household, make_office, make_user
from tests.faults.conftest import make_pg_app

pytestmark = pytest.mark.slow

WRITERS = 50
HOUSEHOLDS = 3
ATTEMPTS = 4  # read-then-save rounds per writer


def test_concurrent_writers_no_lost_update(pg_url: str) -> None:
    app, engine = make_pg_app(pg_url)
    with session_scope(app) as session:
        areas = default_areas(session)
        office = make_office(session, "PB-01", [areas["PK-PB"]])
        clerk = make_user(session, "clerk", office, username="writer")
        refs = [make_household(session, clerk).ref for _ in range(HOUSEHOLDS)]
    token = auth_testing.api_token(app.test_client(), "writer")
    headers = auth_testing.bearer(token)

    outcomes: collections.Counter[tuple[str, int]] = collections.Counter()
    won: dict[str, list[str]] = {ref: [] for ref in refs}
    unexpected: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(WRITERS)

    def writer(n: int) -> None:
        client = app.test_client()
        barrier.wait(timeout=60)
        for attempt in range(ATTEMPTS):
            ref = refs[(n + attempt) % HOUSEHOLDS]
            current = client.get(f"/api/v1/households/{ref}", headers=headers)
            if current.status_code != 200:
                with lock:
                    unexpected.append(f"GET {current.status_code} {current.get_data(True)[:200]}")
                continue
            value = f"writer {n} try {attempt}"
            answer = client.patch(
                f"/api/v1/households/{ref}",
                json={"version": current.get_json()["version"], "locality": value},
                headers=headers,
            )
            with lock:
                outcomes[(ref, answer.status_code)] += 1
                if answer.status_code == 200:
                    won[ref].append(value)
                elif answer.status_code == 409:
                    assert "version" in answer.get_json()["errors"]
                else:
                    unexpected.append(f"PATCH {answer.status_code} {answer.get_data(True)[:300]}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hangs: deadlock or lock wait"
    assert not unexpected, unexpected[:5]
    assert sum(outcomes.values()) == WRITERS * ATTEMPTS
    assert sum(n for (_, code), n in outcomes.items() if code == 409) > 0, "no conflict at all"

    with session_scope(app) as session:
        for ref in refs:
            household = session.scalar(select(Household).where(Household.ref == ref))
            assert household is not None
            successes = outcomes[(ref, 200)]
            # Registration is version 1; each successful save adds exactly one.
            assert household.version == successes + 1, (ref, household.version, successes)
            history = session.scalars(
                select(ChangeRecord)
                .where(ChangeRecord.household_id == household.id, ChangeRecord.action == "update")
                .order_by(ChangeRecord.id)
            ).all()
            changes = [r.changes["locality"] for r in history if "locality" in r.changes]
            # Every acknowledged save is in the history, once, and each one starts from the
            # value the previous one left: no save overwrote another unseen.
            assert sorted(new for _, new in changes) == sorted(won[ref])
            for (_, before), (after, _) in itertools.pairwise(changes):
                assert after == before
            if changes:
                assert household.locality == changes[-1][1]

    # Nothing left waiting or holding a transaction open once the writers are done.
    engine.dispose()
    with engine.connect() as conn:
        stuck = conn.execute(
            text(
                "SELECT state, wait_event_type, left(query, 80) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND (state LIKE 'idle in transaction%' OR wait_event_type = 'Lock')"
            )
        ).all()
    engine.dispose()
    assert not stuck, stuck
    assert time.monotonic() - started < 120
