"""A deterministic synthetic registry, fast enough to make a million households for benchmarks.

The same ``seed`` and ``count`` on an empty registry always give the same households. Rows are
generated in plain Python tuples and written in chunks: with PostgreSQL's ``COPY`` (psycopg's
``cursor.copy``) and, on other databases, with SQLAlchemy Core ``executemany``. The ORM is
never used here: building millions of mapped objects would cost more than writing them.

The data is meant to look like a real registry to the code that reads it: names of the country,
household sizes from 1 to 10 (about 5 on average) with exactly one head, ages and marital status
that agree, sparse disability facts, a PMT score known for about nine households in ten, some
enrolments in the country's main programme, and several facts left blank on purpose, because
*unknown* is an answer the eligibility engine must handle.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection, Engine

from sw_mis.auth.models import Area, OfficeArea
from sw_mis.config import PROJECT_ROOT
from sw_mis.registry.models import Enrolment, Household, Member
from sw_mis.registry.names import name_key
from sw_mis.registry.seed_names import NameBook, name_book

#: Ages are drawn as of this date, so the same seed gives the same dates of birth every year.
REFERENCE_DATE = dt.date(2026, 1, 1)
CHUNK_SIZE = 5000

#: Each country's main household programme, recorded as an existing enrolment for some of the
#: poorer households (screening rules read enrolments as prerequisites or exclusions).
MAIN_PROGRAMME = {
    "PK": "pk-bisp-kafaalat",
    "CV": "cv-rsi",
    "MZ": "mz-pssb",
    "MW": "mw-sctp",
    "ZM": "zm-sct",
    "TL": "tl-bolsa-da-mae",
    "KH": "kh-family-package",
    "ID": "id-pkh",
    "KG": "kg-ui-bulogo-komok",
    "PH": "ph-4ps",
    "PY": "py-tekopora",
    "HN": "hn-bono-vida-mejor",
    "SN": "sn-pnbsf",
    "TG": "tg-fsb-transferts-monetaires",
    "CM": "cm-pfs-tmo",
    "NE": "ne-filets-sociaux-ct",
    "MM": "mm-mcct",
    "LA": "la-mecg",
    "PS": "ps-pnctp",
}
#: Digits in a national ID number (13 for Pakistan's CNIC, 12 for Aadhaar and PhilSys).
NATIONAL_ID_DIGITS = {"PK": 13, "IN": 12, "PH": 12}
LOCALITY_WORD = {"PK": "Mohalla", "IN": "Ward", "CV": "Zona", "MZ": "Bairro", "TL": "Aldeia"}
SPANISH = frozenset({"PY", "SV", "HN"})
FRENCH = frozenset({"SN", "TG", "CM", "NE"})

HOUSEHOLD_COLUMNS = (
    "id", "ref", "country", "status", "consent_given", "consent_date", "office_id",
    "registered_at", "updated_at", "version", "admin1", "admin2", "admin3", "locality", "address",
    "area_type", "in_social_registry", "registry_survey_date", "pmt_score", "income_monthly",
    "dwelling_type", "roof_material", "wall_material", "water_source", "sanitation",
    "has_electricity", "rooms", "owns_motor_vehicle", "land_owned_acres",
    "livestock_cattle_heads", "shock_affected",
)  # fmt: skip
MEMBER_COLUMNS = (
    "household_id", "position", "given_name", "family_name", "name_key", "status", "sex",
    "date_of_birth", "date_of_birth_estimated", "relationship_to_head", "national_id",
    "birth_registered", "citizenship", "marital_status", "pregnant", "wg_seeing", "wg_hearing",
    "wg_walking", "wg_cognition", "wg_selfcare", "wg_communication", "disability_severity",
    "disability_percent", "disability_certified_by", "unable_to_work", "school_enrolled",
    "employment_status", "personal_income_monthly", "receives_pension", "bank_account",
)  # fmt: skip
ENROLMENT_COLUMNS = ("household_id", "scheme_id", "status", "start_date")

# Household size 1..10, mean about 5.2 (the size distribution of a poor rural registry).
SIZE_WEIGHTS = (4, 8, 12, 16, 18, 15, 11, 8, 5, 3)
_SIZES = tuple(size for size, w in enumerate(SIZE_WEIGHTS, start=1) for _ in range(w))
WG_DOMAINS = 6


# --- references, names and identifiers --------------------------------------------------------
def _ref_maker() -> Callable[[str, int], str]:
    """Return household id → reference: the registry's format and check digit, unique per id."""
    from sw_mis.registry.refs import DIGITS, make_ref

    modulus = 10**DIGITS
    # An affine map with a multiplier prime to 10 permutes the bodies: refs look random (as the
    # registry's own are) yet never clash, and the same id always gets the same reference.
    multiplier, offset = 48_271_093, 31_415_926

    def ref(country: str, number: int) -> str:
        return make_ref(country, f"{(number * multiplier + offset) % modulus:0{DIGITS}d}")

    return ref


def _national_id_maker(country: str) -> Callable[[int], str]:
    """Return a bijection from a member serial to a national ID: unique, random-looking."""
    digits = NATIONAL_ID_DIGITS.get(country, 10)
    modulus = 10**digits
    # An affine map with a multiplier prime to 10 permutes 0..10^digits-1: no two serials clash.
    multiplier, offset = 7_919_351, 10 ** (digits - 1) + 123_457

    def national_id(serial: int) -> str:
        return f"{(serial * multiplier + offset) % modulus:0{digits}d}"

    return national_id


# --- areas ------------------------------------------------------------------------------------
def read_area_file(country: str, rules_path: Path | None = None) -> list[dict[str, Any]]:
    """Read ``rules/<cc>/areas.yaml``: a list of {code, name, level, parent}."""
    path = (rules_path or PROJECT_ROOT / "rules") / country.lower() / "areas.yaml"
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(data.get("areas", []))


def ensure_areas(conn: Connection, country: str, rules_path: Path | None = None) -> int:
    """Load a country's areas from its pack if the table has none yet; return how many exist."""
    table = Area.__table__
    existing = conn.scalar(select(func.count()).where(table.c.country == country)) or 0
    if existing:
        return existing
    rows = [
        {
            "code": str(a["code"]),
            "country": country,
            "level": int(a["level"]),
            "name": str(a["name"]),
            "parent_code": a.get("parent"),
        }
        for a in read_area_file(country, rules_path)
    ]
    # Parents before children, for the self-referencing foreign key.
    rows.sort(key=lambda r: r["level"])
    if rows:
        conn.execute(insert(table), rows)
    return len(rows)


def _area_paths(conn: Connection, country: str) -> list[tuple[str, str | None, str | None, str]]:
    """Return (admin1, admin2, admin3, leaf name) for every leaf area of ``country``."""
    table = Area.__table__
    areas = {
        r.code: r
        for r in conn.execute(
            select(table.c.code, table.c.level, table.c.name, table.c.parent_code).where(
                table.c.country == country
            )
        )
    }
    parents = {a.parent_code for a in areas.values() if a.parent_code}
    paths = []
    for code in sorted(areas):
        if code in parents:
            continue
        chain = [areas[code]]
        while chain[-1].parent_code in areas:
            chain.append(areas[chain[-1].parent_code])
        by_level = {a.level: a.code for a in chain}
        paths.append((by_level.get(1, code), by_level.get(2), by_level.get(3), areas[code].name))
    return paths


def _offices_by_area(conn: Connection) -> dict[str, int]:
    """Return area code → office id for the offices that cover areas."""
    table = OfficeArea.__table__
    return {r.area_code: r.office_id for r in conn.execute(select(table))}


# --- generation -------------------------------------------------------------------------------
class _Generator:
    """Draws households from one random stream, so a seed fixes the whole registry."""

    def __init__(self, country: str, seed: int, areas: Sequence[tuple], offices: dict[str, int]):
        self.country = country
        self.rng = random.Random(f"sw-mis:{country}:{seed}")  # noqa: S311 - synthetic data
        self.names: NameBook = name_book(country)
        self.areas = areas
        self.offices = offices
        self.make_ref = _ref_maker()
        self.national_id = _national_id_maker(country)
        self.programme = MAIN_PROGRAMME.get(country)
        # Names repeat a lot: the same key as registration computes, once per distinct name.
        self.name_key = lru_cache(maxsize=65536)(name_key)
        self.locality_word = LOCALITY_WORD.get(
            country, "Barrio" if country in SPANISH else "Quartier" if country in FRENCH else "Zone"
        )
        # Female-headed households are rarer in Pakistan than in Cabo Verde or Central America.
        self.female_head_share = {"PK": 0.1, "IN": 0.12, "PS": 0.1}.get(country, 0.3)

    def _date_of_birth(self, age: int) -> dt.date:
        born = REFERENCE_DATE.toordinal() - age * 365 - self.rng.randrange(365)
        return dt.date.fromordinal(born)

    def _name(self, sex: str, family: str) -> tuple[str, str, str]:
        pool = self.names.female if sex == "female" else self.names.male
        given = pool[int(self.rng.random() ** 1.6 * len(pool))]  # frequent names more often
        return given, family, self.name_key(given, family)

    def _family_name(self) -> str:
        book = self.names.family
        return book[int(self.rng.random() ** 1.4 * len(book))] if book else ""

    def household(self, hh_id: int) -> tuple[tuple, list[tuple], tuple | None]:
        """Return one household row, its member rows and an optional enrolment row."""
        rng = self.rng
        r = rng.random
        size = _SIZES[rng.randrange(len(_SIZES))]
        admin1, admin2, admin3, leaf_name = self.areas[rng.randrange(len(self.areas))]
        office_id = self.offices.get(admin3 or "") or self.offices.get(admin2 or "")
        office_id = office_id or self.offices.get(admin1)
        rural = r() < 0.6
        registered = dt.datetime(2023, 1, 1, 8, tzinfo=dt.UTC) + dt.timedelta(
            days=rng.randrange(1080), minutes=rng.randrange(600)
        )
        pmt = None if r() < 0.1 else Decimal(f"{min(99.0, max(1.0, rng.gauss(36, 16))):.2f}")
        income = None if r() < 0.25 else Decimal(rng.randrange(0, 60000, 500))
        poor = pmt is not None and pmt < 32
        hh_row = (
            hh_id,
            self.make_ref(self.country, hh_id),
            self.country,
            "active",
            True,
            registered.date(),
            office_id,
            registered,
            registered,
            1,
            admin1,
            admin2,
            admin3,
            f"{self.locality_word} {rng.randrange(1, 41)}",
            f"House {rng.randrange(1, 400)}, street {rng.randrange(1, 30)}, {leaf_name}",
            "rural" if rural else "urban",
            None if r() < 0.15 else r() < 0.8,
            None if pmt is None else registered.date() - dt.timedelta(days=rng.randrange(700)),
            pmt,
            income,
            None if r() < 0.1 else ("hut" if poor and r() < 0.4 else "house"),
            None if r() < 0.3 else rng.choice(("concrete", "metal_sheet", "thatch", "tiles")),
            None if r() < 0.3 else rng.choice(("brick_concrete", "mud", "wood")),
            None if r() < 0.2 else ("well" if rural else "piped") if r() < 0.7 else "public_tap",
            None if r() < 0.3 else rng.choice(("flush", "pit", "shared", "none")),
            None if r() < 0.1 else r() < (0.6 if rural else 0.95),
            None if r() < 0.2 else rng.randint(1, 5),
            None if r() < 0.2 else r() < 0.08,
            None if not rural or r() < 0.4 else Decimal(rng.choice((0, 0, 0.5, 1, 2, 5, 12))),
            None if not rural or r() < 0.5 else rng.choice((0, 0, 1, 2, 4)),
            None if r() < 0.5 else r() < 0.2,
        )
        members = self._members(hh_id, size)
        enrolment = None
        if self.programme and poor and r() < 0.6:
            start = registered.date() + dt.timedelta(days=rng.randrange(30, 400))
            status = "active" if r() < 0.9 else "suspended"
            enrolment = (hh_id, self.programme, status, start)
        return hh_row, members, enrolment

    def _members(self, hh_id: int, size: int) -> list[tuple]:
        rng = self.rng
        r = rng.random
        head_female = r() < self.female_head_share
        head_age = min(90, max(18, int(rng.gauss(44, 13))))
        # A married woman heading a household alone often has a husband working away.
        married = (size > 1 and not head_female and r() < 0.9) or (head_female and r() < 0.2)
        family = self._family_name()
        # (sex, age, relationship, marital status)
        people: list[tuple[str, int, str, str | None]] = []
        head_status = "married" if married else self._unmarried_status(head_age, head_female)
        people.append(("female" if head_female else "male", head_age, "head", head_status))
        if married and size > 1:
            spouse_age = max(16, head_age + (rng.randint(-12, 2) if not head_female else 4))
            people.append(("male" if head_female else "female", spouse_age, "spouse", "married"))
        if size - len(people) > 2 and head_age < 50 and r() < 0.2:
            people.append(("female", min(95, head_age + rng.randint(20, 32)), "parent", "widowed"))
        mother_age = head_age if head_female or not married else people[1][1]
        while len(people) < size:
            slot = len(people)
            if mother_age - 15 > 0 and (slot < 8 or r() < 0.5):
                age = rng.randint(0, min(mother_age - 15, 30))
                if head_age > 55 and r() < 0.5:
                    people.append((rng.choice(("female", "male")), rng.randint(0, 12), "grandchild",
                                   "never_married"))  # fmt: skip
                    continue
                status = "never_married" if age < 18 or r() < 0.6 else "married"
                people.append((rng.choice(("female", "male")), age, "child", status))
            else:
                age = rng.randint(10, 60)
                rel = rng.choice(("sibling", "other_relative", "non_relative"))
                status = "never_married" if age < 20 else rng.choice(("married", "never_married"))
                people.append((rng.choice(("female", "male")), age, rel, status))
        wg_asked = r() < 0.7
        rows = []
        for position, (sex, age, rel, marital) in enumerate(people):
            rows.append(self._member_row(hh_id, position, sex, age, rel, marital, family, wg_asked))
        return rows

    def _unmarried_status(self, age: int, female: bool) -> str:
        r = self.rng.random()
        if age > 45 and female:
            return "widowed" if r < 0.7 else "divorced"
        if age > 55:
            return "widowed" if r < 0.6 else "separated"
        return "never_married" if r < 0.6 else "divorced"

    def _member_row(
        self,
        hh_id: int,
        position: int,
        sex: str,
        age: int,
        rel: str,
        marital: str | None,
        family: str,
        wg_asked: bool,
    ) -> tuple:
        rng = self.rng
        r = rng.random
        # Spouses and in-laws bring their own family name in most countries.
        own_family = family if rel in ("head", "child", "grandchild", "sibling") else ""
        own_family = own_family or self._family_name()
        given, fam, key = self._name(sex, own_family)
        dob: dt.date | None = self._date_of_birth(age)
        estimated = False
        if age >= 40 and r() < 0.2:
            # Older people often know only their year of birth: recorded as 1 July, estimated.
            dob, estimated = dt.date(dob.year, 7, 1), True
        if r() < 0.01:
            dob, estimated = None, None
        adult = age >= 18
        national_id = None
        if adult and r() < 0.93:
            national_id = self.national_id(hh_id * 16 + position)
        if age < 15:
            marital = "never_married"
        elif r() < 0.05:
            marital = None  # not asked
        wg = [None] * WG_DOMAINS
        severity = percent = body = unable = None
        if wg_asked and age >= 5:
            wg = ["no_difficulty"] * WG_DOMAINS
            limit = 0.03 + (0.25 if age >= 65 else 0.0)
            if r() < limit:
                level = rng.choice(("some_difficulty", "a_lot_of_difficulty", "cannot_do_at_all"))
                wg[rng.randrange(WG_DOMAINS)] = level
                if level != "some_difficulty" and r() < 0.5:
                    severity = "severe" if level == "cannot_do_at_all" else "moderate"
                    percent = rng.choice((40, 50, 60, 70, 80, 90))
                    body = self.names.disability_body
                    unable = r() < 0.6
        pregnant: bool | None = None
        if sex == "female" and 15 <= age <= 49 and marital == "married":
            pregnant = None if r() < 0.2 else r() < 0.1
        school = None
        if 5 <= age <= 17:
            school = None if r() < 0.15 else r() < 0.75
        employment = pension = income = None
        if adult:
            if r() < 0.8:
                employment = rng.choice(
                    ("employed", "self_employed", "unemployed", "inactive", "inactive")
                    if age < 65
                    else ("inactive", "inactive", "self_employed")
                )
            if employment in ("employed", "self_employed") and r() < 0.6:
                income = Decimal(rng.randrange(2000, 40000, 100))
            if age >= 60:
                pension = None if r() < 0.3 else r() < 0.15
        bank = None if not adult or r() < 0.4 else r() < 0.35
        birth_registered = None if r() < 0.3 else (r() < 0.85)
        return (
            hh_id,
            position,
            given,
            fam,
            key,
            "present",
            sex,
            dob,
            estimated,
            rel,
            national_id,
            birth_registered,
            None if r() < 0.3 else "citizen",
            marital,
            pregnant,
            *wg,
            severity,
            percent,
            body,
            unable,
            school,
            employment,
            income,
            pension,
            bank,
        )


# --- writing ----------------------------------------------------------------------------------
def _copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    """Stream rows into ``table`` with PostgreSQL COPY on the connection's open transaction."""
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(row)


def _insert_rows(conn: Connection, table: Any, columns: Sequence[str], rows: list[tuple]) -> None:
    """Insert rows with one Core executemany (SQLite and other databases)."""
    if rows:
        conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


def seed_households(
    engine: Engine,
    count: int,
    seed: int = 1,
    country: str = "PK",
    *,
    rules_path: Path | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add ``count`` synthetic households of ``country``; return how many were written.

    Each chunk is its own transaction, so a run stopped half-way leaves whole households only.
    Meant for an idle database (demo, tests, benchmarks): household ids are taken from max(id).
    """
    country = country.upper()
    if count <= 0:
        return 0
    with engine.begin() as conn:
        if not ensure_areas(conn, country, rules_path):
            raise ValueError(
                f"no areas for country {country}: add rules/{country.lower()}/areas.yaml"
            )
        areas = _area_paths(conn, country)
        offices = _offices_by_area(conn)
        hh_table = Household.__table__
        first_id = (conn.scalar(select(func.max(hh_table.c.id))) or 0) + 1
    postgres = engine.dialect.name == "postgresql"
    gen = _Generator(country, seed, areas, offices)
    made = 0
    while made < count:
        n = min(chunk_size, count - made)
        households, members, enrolments = [], [], []
        for hh_id in range(first_id + made, first_id + made + n):
            hh_row, member_rows, enrolment = gen.household(hh_id)
            households.append(hh_row)
            members.extend(member_rows)
            if enrolment:
                enrolments.append(enrolment)
        with engine.begin() as conn:
            if postgres:
                _copy_rows(conn, "households", HOUSEHOLD_COLUMNS, households)
                _copy_rows(conn, "members", MEMBER_COLUMNS, members)
                _copy_rows(conn, "enrolments", ENROLMENT_COLUMNS, enrolments)
                # Ids are given explicitly: move the sequence past them in the same transaction,
                # so a run killed half-way never leaves the next registration a taken id.
                conn.execute(
                    text("SELECT setval(pg_get_serial_sequence('households', 'id'), :last)"),
                    {"last": first_id + made + n - 1},
                )
            else:
                _insert_rows(conn, hh_table, HOUSEHOLD_COLUMNS, households)
                _insert_rows(conn, Member.__table__, MEMBER_COLUMNS, members)
                _insert_rows(conn, Enrolment.__table__, ENROLMENT_COLUMNS, enrolments)
        made += n
        if progress:
            progress(made)
    if postgres:
        # Fresh statistics, or the planner guesses badly on a table that just grew a millionfold.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE households, members, enrolments"))
    return made
