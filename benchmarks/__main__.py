"""``python -m benchmarks [NAME…] [--households N] [--smoke] [--database URL]``.

Without ``--database`` the run creates a throw-away PostgreSQL database on the local server
(``SW_MIS_TEST_POSTGRES_URL``, as the tests do) and drops it afterwards; without a server it
falls back to a temporary SQLite file, except in CI (``CI=true``), where that is an error.
With ``--database`` the registry there is topped up to N households and kept, so a 1M-household
database is seeded once and measured many times.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

import benchmarks
from benchmarks import Context, iter_selected

DEFAULT_PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SMOKE_HOUSEHOLDS = 3000
DEFAULT_HOUSEHOLDS = 100_000


def _load_modules() -> None:
    for name in benchmarks.MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real import error inside an existing module
                raise


def _temporary_database() -> tuple[str, object]:
    """Return (url, cleanup) for a fresh database: PostgreSQL if reachable, else SQLite."""
    from sw_mis.db import make_engine

    admin_url = os.environ.get("SW_MIS_TEST_POSTGRES_URL", DEFAULT_PG_ADMIN)
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"sw_mis_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("CI", "").lower() == "true":
            raise SystemExit(f"PostgreSQL is required in CI and not reachable: {exc}") from exc
        print(f"# PostgreSQL not reachable ({type(exc).__name__}); using SQLite", file=sys.stderr)
        folder = tempfile.TemporaryDirectory(prefix="sw-mis-bench-")
        return f"sqlite:///{Path(folder.name) / 'bench.db'}", folder.cleanup

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return url, drop


def _pick_country(rules_path: Path, wanted: str) -> str:
    if (rules_path / wanted.lower() / "areas.yaml").exists():
        return wanted.upper()
    found = sorted(p.parent.name for p in rules_path.glob("*/areas.yaml"))
    if not found:
        raise SystemExit(f"no country pack with areas.yaml under {rules_path}")
    print(f"# no areas for {wanted}; benchmarking {found[0].upper()}", file=sys.stderr)
    return found[0].upper()


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks and print one JSON line per figure."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--households", type=int, help="registry size to measure at")
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_HOUSEHOLDS} households")
    parser.add_argument("--database", help="database URL to use and keep (default: temporary)")
    parser.add_argument("--country", default="PK", help="country of the seeded households")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    _load_modules()
    if args.list:
        for name, fn in benchmarks.BENCHMARKS.items():
            print(f"{name:<12} {(fn.__doc__ or '').strip()}")
        return 0
    selected = list(iter_selected(args.names))
    households = args.households or (SMOKE_HOUSEHOLDS if args.smoke else DEFAULT_HOUSEHOLDS)

    from sw_mis import create_app
    from sw_mis.db import make_engine
    from sw_mis.migrate import upgrade

    cleanup = None
    url = args.database
    if url is None:
        url, cleanup = _temporary_database()
    engine = make_engine(url)
    try:
        upgrade(engine)
        app = create_app(
            {
                "SW_MIS_ENV": "testing",
                "SW_MIS_DATABASE_URL": url,
                "SW_MIS_SECRET_KEY": "benchmark-" + "x" * 32,
                "SW_MIS_REFERRAL_KEYS": "bench:benchmark-signing-key",
            },
            engine=engine,
        )
        country = _pick_country(app.config["SW_MIS"].rules_path, args.country)
        ctx = Context(
            engine=engine, app=app, households=households, smoke=args.smoke, country=country
        )
        if "seed" not in [n for n, _ in selected]:
            # Every other benchmark needs a registry of the asked size.
            selected.insert(0, ("seed", benchmarks.BENCHMARKS["seed"]))
        for name, fn in selected:
            print(f"# {name}", file=sys.stderr, flush=True)
            for figure in fn(ctx):
                print(figure.json(), flush=True)
    finally:
        engine.dispose()
        if cleanup is not None:
            cleanup()  # type: ignore[operator]
    return 0


if __name__ == "__main__":
    sys.exit(main())
