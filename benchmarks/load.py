"""Load test: simulated clerks against gunicorn on PostgreSQL, over loopback HTTP.

Two phases, each bounded in time:

* **clerks** — 50 clerks, each pausing 2-5 s between actions as people do, mixing search
  (POST, terms in the body), registration, screening (the eligibility API) and slip printing
  (the referral API). Target: zero errors, p95 ≤ 300 ms.
* **saturation** — the same mix with no pauses, to find the throughput ceiling.

The driver is plain stdlib (``http.client`` on keep-alive connections, one thread per clerk):
nothing to install, deterministic mix (seeded), and it speaks only to 127.0.0.1. Clerks get
their bearer tokens from the token service directly, so the login rate limit (10/min per
address) is not what is measured.

``python -m benchmarks load [--smoke]`` runs it on the benchmark database (30 s in all with
``--smoke``, 5 min + 1 min otherwise); ``python -m benchmarks.load --database URL`` runs it
against an existing, seeded database, with ``--clerks``, ``--seconds`` and ``--saturation``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from benchmarks import Context, Figure, benchmark, percentile

ROOT = Path(__file__).resolve().parent.parent
CLERKS = 50
PAUSE = (2.0, 5.0)
#: The mix of a counter's day: (action, weight).
MIX = (("search", 40), ("screen", 25), ("register", 15), ("slip", 20))
P95_TARGET_MS = 300.0


@dataclass
class Sample:
    action: str
    ms: float
    status: int


@dataclass
class Fixture:
    """What the clerks work with: tokens, households, names and referrals to print."""

    tokens: list[str]
    refs: list[str]
    names: list[str]
    referrals: list[str]
    areas: list[tuple[str, str]]
    samples: list[Sample] = field(default_factory=list)


# --- set-up -------------------------------------------------------------------------------------
def prepare(engine: Engine, country: str, clerks: int) -> tuple[list[str], str]:
    """Create an office over every area of ``country``, ``clerks`` clerks and a supervisor.

    Return the clerks' bearer tokens and the supervisor's.
    """
    from sw_mis.auth.models import Area, Office, OfficeArea, User
    from sw_mis.auth.passwords import hash_password
    from sw_mis.auth.services import issue_token

    with Session(engine) as session, session.begin():
        code = f"LOAD-{country}"
        office = session.scalar(select(Office).where(Office.code == code))
        if office is None:
            office = Office(code=code, name="Load test office", country=country)
            for area in session.scalars(
                select(Area).where(Area.country == country, Area.level == 1)
            ):
                office.areas.append(OfficeArea(area_code=area.code))
            session.add(office)
            session.flush()
        password = hash_password(os.urandom(16).hex())
        tokens = []
        for n in range(clerks + 1):
            role = "supervisor" if n == clerks else "clerk"
            username = f"load-{country.lower()}-{role}-{n}"
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                user = User(
                    username=username,
                    full_name=username,
                    password_hash=password,
                    role=role,
                    office_id=office.id,
                    active=True,
                )
                session.add(user)
                session.flush()
            tokens.append(issue_token(session, user)[0])
    return tokens[:-1], tokens[-1]


def sample_registry(
    engine: Engine, country: str, n: int = 500
) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Return household refs, family names and (admin1, admin2) pairs to work with."""
    with engine.connect() as conn:
        refs = list(
            conn.execute(
                text(
                    "SELECT ref FROM households WHERE country = :c AND status = 'active' "
                    "ORDER BY id DESC LIMIT :n"
                ),
                {"c": country, "n": n},
            ).scalars()
        )
        names = list(
            conn.execute(
                text(
                    "SELECT DISTINCT m.family_name FROM members m JOIN households h "
                    "ON h.id = m.household_id WHERE h.country = :c AND m.family_name IS NOT NULL "
                    "LIMIT 200"
                ),
                {"c": country},
            ).scalars()
        )
        areas = [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT DISTINCT admin1, admin2 FROM households WHERE country = :c "
                    "AND admin2 IS NOT NULL LIMIT 50"
                ),
                {"c": country},
            )
        ]
    if not refs:
        raise SystemExit(f"no {country} households to load-test: seed the database first")
    return refs, names, areas  # type: ignore[return-value]


def issue_referrals(port: int, token: str, refs: list[str], wanted: int) -> list[str]:
    """Issue up to ``wanted`` referrals (as the supervisor) so clerks have slips to print."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    issued: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for ref in refs:
        if len(issued) >= wanted:
            break
        status, report = _call(conn, "GET", f"/api/v1/households/{ref}/eligibility", headers)
        if status != 200:
            continue
        for result in report["results"]:
            if result["outcome"] == "not_eligible" or result["members"]:
                continue
            body = {"household": ref, "scheme": result["scheme"], "approve_undetermined": True}
            status, referral = _call(conn, "POST", "/api/v1/referrals", headers, body)
            if status == 201:
                issued.append(referral["ref"])
                break
    conn.close()
    return issued


def _call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
) -> tuple[int, Any]:
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return response.status, json.loads(data)
    return response.status, data


# --- the clerks ---------------------------------------------------------------------------------
def _household(rng: random.Random, areas: list[tuple[str, str]], country: str) -> dict[str, Any]:
    admin1, admin2 = rng.choice(areas)
    head_born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
    child_born = dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(5000))
    family = rng.choice(("Load", "Bench", "Proxy", "Counter")) + str(rng.randrange(10**6))
    return {
        "country": country,
        "consent_given": True,
        "area_type": rng.choice(("urban", "rural")),
        "admin1": admin1,
        "admin2": admin2,
        "locality": "Load test",
        "members": [
            {
                "given_name": "Amina",
                "family_name": family,
                "sex": "female",
                "date_of_birth": head_born.isoformat(),
                "relationship_to_head": "head",
                "marital_status": "widowed",
            },
            {
                "given_name": "Bilal",
                "family_name": family,
                "sex": "male",
                "date_of_birth": child_born.isoformat(),
                "relationship_to_head": "child",
                "marital_status": "never_married",
            },
        ],
    }


def clerk(
    n: int,
    port: int,
    fx: Fixture,
    country: str,
    until: float,
    pause: tuple[float, float],
    lock: threading.Lock,
) -> None:
    """One clerk's loop: an action, a pause, until ``until``."""
    rng = random.Random(n)
    actions = [a for a, w in MIX for _ in range(w)]
    headers = {
        "Authorization": f"Bearer {fx.tokens[n % len(fx.tokens)]}",
        "Content-Type": "application/json",
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if pause[1]:
        time.sleep(rng.uniform(0, pause[1]))  # clerks do not all start on the same second
    while time.monotonic() < until:
        if pause[1]:
            # After a pause longer than gunicorn's keep-alive the server has closed the
            # connection: open a fresh one (on loopback it costs a tenth of a millisecond).
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        action = rng.choice(actions)
        if action == "slip" and not fx.referrals:
            action = "screen"
        start = time.perf_counter()
        try:
            if action == "search":
                q = (
                    rng.choice(fx.refs)
                    if rng.random() < 0.5 or not fx.names
                    else rng.choice(fx.names)
                )
                status, _ = _call(
                    conn, "POST", "/api/v1/households/search", headers, {"q": q, "per_page": 25}
                )
            elif action == "screen":
                status, _ = _call(
                    conn, "GET", f"/api/v1/households/{rng.choice(fx.refs)}/eligibility", headers
                )
            elif action == "register":
                status, _ = _call(
                    conn, "POST", "/api/v1/households", headers, _household(rng, fx.areas, country)
                )
            else:
                status, _ = _call(
                    conn, "GET", f"/api/v1/referrals/{rng.choice(fx.referrals)}/slip.pdf", headers
                )
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ms = (time.perf_counter() - start) * 1000
        with lock:
            fx.samples.append(Sample(action, ms, status))
        if pause[1]:
            time.sleep(rng.uniform(*pause))
    conn.close()


def drive(
    port: int, fx: Fixture, country: str, clerks: int, seconds: float, pause: tuple[float, float]
) -> list[Sample]:
    """Run ``clerks`` clerks for ``seconds``; return their samples."""
    fx.samples = []
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=clerk, args=(n, port, fx, country, until, pause, lock), daemon=True)
        for n in range(clerks)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    return list(fx.samples)


# --- gunicorn -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gunicorn(url: str, workers: int, threads: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``gunicorn 'sw_mis:create_app()'`` on a free loopback port; wait until ready."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SW_MIS_")}
    env.update(
        {
            "SW_MIS_ENV": "production",
            "SW_MIS_DATABASE_URL": url,
            "SW_MIS_SECRET_KEY": os.urandom(24).hex(),
            "SW_MIS_REFERRAL_KEYS": "load:" + os.urandom(16).hex(),
            "PYTHONPATH": str(ROOT),
        }
    )
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter running gunicorn
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "--log-level",
            "warning",
            "sw_mis:create_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("gunicorn did not become ready in 120 s")


# --- figures ------------------------------------------------------------------------------------
def summarise(samples: list[Sample], seconds: float) -> dict[str, Any]:
    """Return request counts, errors, p50/p95/p99 overall and per action, and throughput."""

    def stats(items: list[Sample]) -> dict[str, Any]:
        ms = [s.ms for s in items]
        return {
            "requests": len(items),
            "errors": sum(1 for s in items if s.status == 0 or s.status >= 400),
            "p50_ms": round(percentile(ms, 50), 1) if ms else None,
            "p95_ms": round(percentile(ms, 95), 1) if ms else None,
            "p99_ms": round(percentile(ms, 99), 1) if ms else None,
        }

    result = stats(samples)
    result["per_second"] = round(len(samples) / seconds, 1) if seconds else None
    result["by_action"] = {a: stats([s for s in samples if s.action == a]) for a, _ in MIX}
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    result["statuses"] = statuses
    return result


def run_load(
    url: str,
    engine: Engine,
    country: str,
    clerks: int,
    seconds: float,
    saturation_seconds: float,
    workers: int,
    threads: int,
) -> dict[str, Any]:
    """Prepare, start gunicorn, run both phases, stop it; return the two summaries."""
    tokens, supervisor = prepare(engine, country, clerks)
    refs, names, areas = sample_registry(engine, country)
    proc, port = start_gunicorn(url, workers, threads)
    try:
        referrals = issue_referrals(port, supervisor, refs, 30)
        fx = Fixture(tokens, refs, names, referrals, areas)
        drive(port, fx, country, min(clerks, 10), 3, (0, 0))  # warm every worker up
        clerks_phase = summarise(drive(port, fx, country, clerks, seconds, PAUSE), seconds)
        saturation = summarise(
            drive(port, fx, country, clerks, saturation_seconds, (0, 0)), saturation_seconds
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {
        "clerks": clerks,
        "workers": workers,
        "threads": threads,
        "referrals": len(referrals),
        "paced": clerks_phase,
        "saturation": saturation,
    }


@benchmark("load")
def load(ctx: Context) -> Iterator[Figure]:
    """50 clerks pacing 2-5 s (zero errors, p95 ≤ 300 ms), then saturation, over gunicorn."""
    seconds = float(os.environ.get("SW_MIS_LOAD_SECONDS", 20 if ctx.smoke else 300))
    saturation = float(os.environ.get("SW_MIS_LOAD_SATURATION_SECONDS", 10 if ctx.smoke else 60))
    workers = int(os.environ.get("SW_MIS_LOAD_WORKERS", 2 * (os.cpu_count() or 1) + 1))
    url = ctx.engine.url.render_as_string(hide_password=False)
    if ctx.engine.dialect.name != "postgresql":
        print("# load: needs PostgreSQL; skipped", file=sys.stderr)
        return
    result = run_load(url, ctx.engine, ctx.country, CLERKS, seconds, saturation, workers, 4)
    paced, sat = result["paced"], result["saturation"]
    notes = f"{CLERKS} clerks, {seconds:.0f} s, {paced['requests']} requests"
    yield Figure(
        "load.paced.p95",
        paced["p95_ms"],
        "ms",
        P95_TARGET_MS,
        None,
        notes=notes + f", statuses {paced['statuses']}",
    )
    yield Figure("load.paced.errors", paced["errors"], "requests", 0, None, notes=notes)
    for action, stats in paced["by_action"].items():
        if stats["requests"]:
            yield Figure(
                f"load.paced.{action}.p95",
                stats["p95_ms"],
                "ms",
                None,
                None,
                notes=f"{stats['requests']} requests, {stats['errors']} errors",
            )
    yield Figure(
        "load.saturation.throughput",
        sat["per_second"],
        "requests/s",
        None,
        None,
        higher_is_better=True,
        notes=f"no pauses, {saturation:.0f} s, p95 {sat['p95_ms']} ms, "
        f"{sat['errors']} errors, {workers} workers x 4 threads",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the load test against an existing, seeded database; print the summary as JSON."""
    from sw_mis.db import make_engine

    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--database", required=True, help="seeded PostgreSQL URL")
    parser.add_argument("--country", default="PK")
    parser.add_argument("--clerks", type=int, default=CLERKS)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--saturation", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    engine = make_engine(args.database)
    try:
        result = run_load(
            args.database,
            engine,
            args.country.upper(),
            args.clerks,
            args.seconds,
            args.saturation,
            args.workers,
            args.threads,
        )
    finally:
        engine.dispose()
    print(json.dumps(result, indent=2))
    paced = result["paced"]
    return 0 if paced["errors"] == 0 and result["saturation"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
