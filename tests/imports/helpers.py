"""Build survey-shaped files for the import tests."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

HEADER = [
    "hh_id",
    "province",
    "district",
    "consent",
    "group_members/name",
    "surname",
    "gender",
    "dob",
    "relation",
    "cnic",
    "locality",
]


def member_rows(
    key: str,
    *,
    nid_base: int,
    province: str = "PK-PB",
    district: str = "PK-PB-LHR",
    family: str = "Khan",
    born: int = 0,
) -> list[list[Any]]:
    """Return the rows of a three-member household (head, spouse, child)."""
    shift = dt.timedelta(days=born)
    return [
        [
            key,
            province,
            district,
            "yes",
            "Aslam",
            family,
            "m",
            (dt.date(1960, 3, 4) + shift).isoformat(),
            "head",
            f"35202{nid_base:08d}",
            "Model Town",
        ],
        [
            key,
            province,
            district,
            "yes",
            "Nasreen",
            family,
            "f",
            (dt.date(1965, 6, 1) + shift).isoformat(),
            "spouse",
            f"35202{nid_base + 1:08d}",
            "Model Town",
        ],
        [
            key,
            province,
            district,
            "yes",
            "Bilal",
            family,
            "m",
            (dt.date(1990, 9, 9) + shift).isoformat(),
            "child",
            "",
            "Model Town",
        ],
    ]


def survey_rows(count: int, start: int = 1) -> list[list[Any]]:
    """Return ``count`` valid households, keys H<n>, unique national IDs and family names."""
    rows: list[list[Any]] = []
    for i in range(start, start + count):
        # Birth dates a day apart: no two households look like the same family.
        rows += member_rows(f"H{i}", nid_base=i * 10, family="Khan", born=i)
    return rows


def csv_bytes(
    rows: list[list[Any]], header: list[str] = HEADER, delimiter: str = ",", encoding: str = "utf-8"
) -> bytes:
    """Return a CSV file's bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to ``tmp_path/name`` and return the path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


def registry_counts(session: Session) -> dict[str, int]:
    """Return row counts of the registry tables an import could write to."""
    from sw_mis.audit.models import AuditEvent
    from sw_mis.registry.models import ChangeRecord, Household, Member

    return {
        m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
        for m in (Household, Member, ChangeRecord)
    } | {
        "audit_household": session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action.like("household.%"))
        )
        or 0
    }
