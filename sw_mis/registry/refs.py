"""Household reference numbers: ``PK-12345678`` plus a Damm check digit, e.g. ``PK-123456780``.

The Damm algorithm catches every single-digit typo and every swap of two adjacent digits, the two
mistakes people make when copying a number from a slip. The eight digits are random, not a
sequence, so a reference says nothing about how many households exist or which came next.
"""

from __future__ import annotations

import re
import secrets

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

DIGITS = 8

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

_LOOSE = re.compile(rf"^\s*([A-Za-z]{{2}})[\s\-./]*((?:\d[\s\-]*){{{DIGITS + 1}}})\s*$")
_LOOKS_LIKE_REF = re.compile(r"^\s*[A-Za-z]{2}[\s\-./]*\d[\d\s\-]*$")


class RefError(ValueError):
    """A text is not a valid household reference number."""


def damm_digit(digits: str) -> str:
    """Return the Damm check digit of a string of decimal digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][int(ch)]
    return str(interim)


def make_ref(country: str, body: str) -> str:
    """Return the reference for ``country`` and the ``DIGITS``-digit ``body``."""
    return f"{country.upper()}-{body}{damm_digit(body)}"


def looks_like_ref(text: str) -> bool:
    """Return True when ``text`` is shaped like a reference (two letters, then digits)."""
    return bool(_LOOKS_LIKE_REF.match(text or ""))


def parse_ref(text: str) -> str:
    """Return the canonical form of a typed reference, or raise :class:`RefError`."""
    match = _LOOSE.match(text or "")
    if not match:
        raise RefError(
            _(
                "A household reference is two letters and %(num)d digits, like %(example)s.",
                num=DIGITS + 1,
                example=f"PK-{'1' * (DIGITS - 1)}24",
            )
        )
    digits = re.sub(r"\D", "", match.group(2))
    if damm_digit(digits) != "0":
        # A valid number's digits, check digit included, always give 0.
        raise RefError(
            _(
                "This reference number is not valid: a digit is probably mistyped or two digits "
                "are swapped. Check it against the slip."
            )
        )
    return f"{match.group(1).upper()}-{digits}"


def is_valid_ref(text: str) -> bool:
    """Return True when ``text`` is a well-formed reference with a correct check digit."""
    try:
        parse_ref(text)
    except RefError:
        return False
    return True


def new_ref(session: Session, country: str) -> str:
    """Return an unused random reference for ``country``."""
    from sw_mis.registry.models import Household

    while True:
        ref = make_ref(country, f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}")
        if session.scalar(select(Household.id).where(Household.ref == ref)) is None:
            return ref
