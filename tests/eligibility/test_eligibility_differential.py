"""Both back-ends give identical outcomes: counter closures vs one SQL statement per scheme.

Households are generated with gaps (any fact may be blank) and values at the rules'
thresholds, inserted into SQLite and PostgreSQL, and screened with every scheme of the
fixture pack and of the shipped rules.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from eligibility_data import Domains, household_strategy, insert_households, random_household
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from sw_mis.eligibility import sql as sql_module
from sw_mis.eligibility.book import RuleBook
from sw_mis.eligibility.engine import screen_household
from sw_mis.eligibility.sql import counts, runs, scheme_select, screen_all, stored_outcomes

AS_OF = dt.date(2025, 3, 1)


def counter_outcomes(book: RuleBook, snapshots: list[dict[str, Any]], as_of: dt.date,
                     ) -> dict[tuple[str, int, Any], str]:
    """(scheme, household, member or None) -> outcome, from the counter back-end."""
    found = {}
    for h in snapshots:
        for r in screen_household(book, h, as_of):
            if r.unit == "household":
                found[(r.scheme, h["id"], None)] = r.outcome
            else:
                for m in r.members:
                    found[(r.scheme, h["id"], m["id"])] = m["outcome"]
    return found


def sql_outcomes(engine: Engine, book: RuleBook, as_of: dt.date,
                 ) -> dict[tuple[str, int, Any], str]:
    found = {}
    with engine.connect() as conn:
        for sid, scheme in book.schemes.items():
            if scheme.parameters_on(as_of) is None:
                continue
            for row in conn.execute(scheme_select(book, sid, as_of)):
                found[(sid, row.household_id, row.member_id)] = row.outcome
    return found


def assert_same(engine: Engine, book: RuleBook, snapshots: list[dict[str, Any]],
                as_of: dt.date = AS_OF) -> None:
    with engine.begin() as conn:
        insert_households(conn, snapshots)
    py, sql = counter_outcomes(book, snapshots, as_of), sql_outcomes(engine, book, as_of)
    diff = sorted((k, py.get(k), sql.get(k)) for k in py.keys() | sql.keys()
                  if py.get(k) != sql.get(k))
    assert not diff, f"{len(diff)} differences (key, counter, sql), e.g. {diff[:5]}"


@pytest.fixture(params=["fixture", "real"])
def book(request: pytest.FixtureRequest, fixture_book: RuleBook, real_book: RuleBook,
         ) -> RuleBook:
    if request.param == "real" and not real_book.packs:
        pytest.skip("no pack in rules/ loads yet")
    return fixture_book if request.param == "fixture" else real_book


def test_bulk_random_households_agree(empty_db: Engine, book: RuleBook) -> None:
    dom = Domains(book, AS_OF)
    rng = random.Random(20250301)
    countries = sorted(book.packs)
    snapshots = [random_household(rng, dom, rng.choice(countries), blank=rng.random() * 0.6)
                 for _ in range(1000)]
    assert_same(empty_db, book, snapshots)


@pytest.mark.parametrize("as_of", [dt.date(2024, 2, 29), dt.date(2023, 12, 31)])
def test_other_dates_agree(empty_db: Engine, fixture_book: RuleBook, as_of: dt.date) -> None:
    dom = Domains(fixture_book, as_of)
    rng = random.Random(as_of.toordinal())
    assert_same(empty_db, fixture_book,
                [random_household(rng, dom, "ZZ") for _ in range(400)], as_of)


def test_canonical_missing_data_cases_agree(empty_db: Engine, fixture_book: RuleBook) -> None:
    able = {"wg_seeing": "no_difficulty", "wg_hearing": "no_difficulty",
            "wg_walking": "no_difficulty", "wg_cognition": "no_difficulty",
            "wg_selfcare": "no_difficulty", "wg_communication": "no_difficulty",
            "disability_severity": "none"}

    def m(born: str | None, **kw: Any) -> dict[str, Any]:
        return {**able, "date_of_birth": dt.date.fromisoformat(born) if born else None,
                "relationship_to_head": "head", "status": "present", **kw}

    base = {"country": "ZZ", "admin1": "ZZ-N", "pmt_score": 20, "enrolments": []}
    cases = [
        {**base, "pmt_score": None, "members": [m("1950-01-01")]},
        {**base, "admin1": None, "members": [m("1950-01-01")]},
        {**base, "members": [m("1985-01-01"), m(None)]},
        {**base, "members": [m(None), m("1954-06-01")]},
        {**base, "members": [m("1985-01-01", wg_walking=None)]},
        {**base, "members": []},
    ]
    assert_same(empty_db, fixture_book, cases)
    got = counter_outcomes(fixture_book, cases, AS_OF)
    assert [got[("zz-poverty-elderly", h["id"], None)] for h in cases] == [
        "undetermined", "undetermined", "undetermined", "eligible", "undetermined",
        "not_eligible"]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_households_agree(empty_db: Engine, book: RuleBook, data: st.DataObject,
                                    ) -> None:
    dom = Domains(book, AS_OF)
    country = data.draw(st.sampled_from(sorted(book.packs)))
    snapshots = data.draw(st.lists(household_strategy(dom, country), min_size=1, max_size=6))
    with empty_db.begin() as conn:
        for table in ("enrolments", "members", "households"):
            conn.exec_driver_sql(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    assert_same(empty_db, book, snapshots)


# the registry-wide run ------------------------------------------------------------------------
def _stored(engine: Engine, run_id: int) -> set[tuple[str, int, Any, str]]:
    with engine.connect() as conn:
        pairs = list(stored_outcomes(conn, run_id))
    assert len(pairs) == len(set(pairs)), "a pair is stored twice"
    return set(pairs)


def _snapshots(book: RuleBook, n: int) -> list[dict[str, Any]]:
    dom = Domains(book, AS_OF)
    rng = random.Random(7)
    return [random_household(rng, dom, "ZZ") for _ in range(n)]


def test_screen_all_writes_eligible_and_undetermined(empty_db: Engine,
                                                     fixture_book: RuleBook) -> None:
    snapshots = _snapshots(fixture_book, 300)
    with empty_db.begin() as conn:
        insert_households(conn, snapshots)
    with empty_db.connect() as conn:
        summary = screen_all(conn, fixture_book, AS_OF, batch_size=70, commit=conn.commit)
    expected = {(s, h, m, o) for (s, h, m), o in
                counter_outcomes(fixture_book, snapshots, AS_OF).items() if o != "not_eligible"}
    assert _stored(empty_db, summary.run_id) == expected
    assert summary.households == 300
    assert summary.rows == len({h for _, h, _, _ in expected})
    assert (summary.eligible, summary.undetermined) == (
        len({(s, h) for s, h, _, o in expected if o == "eligible"}),
        len({(s, h) for s, h, _, o in expected if o == "undetermined"}))


def test_parallel_workers_and_area_counts_match_the_counter(empty_db: Engine,
                                                            fixture_book: RuleBook) -> None:
    """Two connections at once (PostgreSQL) store the same pairs; the counts agree with them."""
    snapshots = _snapshots(fixture_book, 240)
    with empty_db.begin() as conn:
        insert_households(conn, snapshots)
    with empty_db.connect() as conn:
        summary = screen_all(conn, fixture_book, AS_OF, batch_size=100, commit=conn.commit,
                             workers=2)
    expected = {(s, h, m, o) for (s, h, m), o in
                counter_outcomes(fixture_book, snapshots, AS_OF).items() if o != "not_eligible"}
    assert _stored(empty_db, summary.run_id) == expected
    area = {h["id"]: (h.get("admin1"), h.get("admin2"), h.get("admin3")) for h in snapshots}
    want: dict[tuple[Any, ...], set[int]] = {}
    for s, h, _, o in expected:
        want.setdefault((s, *area[h], o), set()).add(h)
    with empty_db.connect() as conn:
        got: dict[tuple[Any, ...], int] = {}
        for s, a1, a2, a3, e, u in conn.execute(select(
                counts.c.scheme_id, counts.c.admin1, counts.c.admin2, counts.c.admin3,
                counts.c.eligible, counts.c.undetermined).where(counts.c.run_id == summary.run_id)):
            for outcome, n in (("eligible", e), ("undetermined", u)):
                if n:
                    key = (s, a1, a2, a3, outcome)
                    got[key] = got.get(key, 0) + n
    assert got == {k: len(v) for k, v in want.items()}


def test_killed_run_resumes_to_the_same_result(empty_db: Engine,
                                               fixture_book: RuleBook) -> None:
    snapshots = _snapshots(fixture_book, 250)
    with empty_db.begin() as conn:
        insert_households(conn, snapshots)
    with empty_db.connect() as conn:
        full = screen_all(conn, fixture_book, AS_OF, batch_size=1000, commit=conn.commit)

    class Killed(Exception):
        pass

    with empty_db.connect() as conn:
        def commit_then_die() -> None:
            # Dies on committing the second batch (its count is in the open transaction).
            done = conn.execute(select(runs.c.households_done)
                                .order_by(runs.c.id.desc()).limit(1)).scalar()
            if done == 200:
                raise Killed
            conn.commit()

        with pytest.raises(Killed):
            screen_all(conn, fixture_book, AS_OF, batch_size=100, commit=commit_then_die)
        conn.rollback()
        run_id = conn.exec_driver_sql("SELECT max(id) FROM screening_runs").scalar_one()
        last = conn.execute(select(runs.c.last_household_id)
                            .where(runs.c.id == run_id)).scalar_one()
        assert last == snapshots[99]["id"]
        resumed = screen_all(conn, fixture_book, AS_OF, batch_size=100, run_id=run_id,
                             commit=conn.commit)
    assert resumed.households == 150
    assert _stored(empty_db, run_id) == _stored(empty_db, full.run_id)


def test_a_failing_worker_stops_the_run_at_the_last_whole_batch(
        empty_db: Engine, fixture_book: RuleBook, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches are recorded in order: an error in one leaves the resume point before it
    (whatever the other worker finished, on PostgreSQL), and the resumed run is whole."""
    snapshots = _snapshots(fixture_book, 400)
    with empty_db.begin() as conn:
        insert_households(conn, snapshots)
    with empty_db.connect() as conn:
        full = screen_all(conn, fixture_book, AS_OF, batch_size=1000, commit=conn.commit)
    failing_after = snapshots[199]["id"]  # the third batch of 100 fails
    real_run = sql_module._CountryPass.run

    def run(self, conn, run_id, after_id, up_to_id, *args):  # type: ignore[no-untyped-def]
        if after_id == failing_after:
            raise RuntimeError("worker failed")
        return real_run(self, conn, run_id, after_id, up_to_id, *args)

    monkeypatch.setattr(sql_module._CountryPass, "run", run)
    with empty_db.connect() as conn, pytest.raises(RuntimeError, match="worker failed"):
        screen_all(conn, fixture_book, AS_OF, batch_size=100, commit=conn.commit, workers=2)
    with empty_db.connect() as conn:
        run_id, last, done = conn.execute(
            select(runs.c.id, runs.c.last_household_id, runs.c.households_done)
            .order_by(runs.c.id.desc()).limit(1)).one()
        assert (last, done) == (failing_after, 200)
        assert conn.execute(select(counts.c.id).where(counts.c.run_id == run_id)).first()
        monkeypatch.setattr(sql_module._CountryPass, "run", real_run)
        resumed = screen_all(conn, fixture_book, AS_OF, batch_size=100, run_id=run_id,
                             commit=conn.commit, workers=2)
    assert resumed.households == 200
    assert _stored(empty_db, run_id) == _stored(empty_db, full.run_id)
    assert _area_counts(empty_db, run_id) == _area_counts(empty_db, full.run_id)


def _area_counts(engine: Engine, run_id: int) -> dict[tuple[Any, ...], tuple[int, int]]:
    totals: dict[tuple[Any, ...], tuple[int, int]] = {}
    with engine.connect() as conn:
        for s, a1, a2, a3, e, u in conn.execute(select(
                counts.c.scheme_id, counts.c.admin1, counts.c.admin2, counts.c.admin3,
                counts.c.eligible, counts.c.undetermined).where(counts.c.run_id == run_id)):
            e0, u0 = totals.get((s, a1, a2, a3), (0, 0))
            totals[(s, a1, a2, a3)] = (e0 + e, u0 + u)
    return totals


def test_screen_all_with_the_shipped_rules(empty_db: Engine, real_book: RuleBook) -> None:
    """Schemes of one country share one aggregate pass: each keeps its own parameters."""
    if not real_book.packs:
        pytest.skip("no pack in rules/ loads yet")
    dom = Domains(real_book, AS_OF)
    rng = random.Random(11)
    countries = sorted(real_book.packs)
    snapshots = [random_household(rng, dom, rng.choice(countries)) for _ in range(600)]
    with empty_db.begin() as conn:
        insert_households(conn, snapshots)
    with empty_db.connect() as conn:
        summary = screen_all(conn, real_book, AS_OF, batch_size=250, commit=conn.commit)
    expected = {(s, h, m, o) for (s, h, m), o in
                counter_outcomes(real_book, snapshots, AS_OF).items() if o != "not_eligible"}
    assert _stored(empty_db, summary.run_id) == expected
