"""Phonetic name keys: spelling variants (Mohammad / Muhammad, Khan / Kahn) share a key.

``Member.name_key`` holds ``"<family key> <given key>"`` so that a B-tree index answers both
"family name" and "family + given name" searches with a range scan, identically on SQLite and
PostgreSQL (no extension needed). Keys are Metaphone codes with the weak letters H, W and Y
dropped after the first letter, because transliterations from Urdu, Arabic or Bengali disagree
mostly on vowels and on those letters.
"""

from __future__ import annotations

import re
import unicodedata

import jellyfish

_NON_ALPHA = re.compile(r"[^a-z]")


def tokens(text: str) -> list[str]:
    """Split a name into lower-case ASCII-folded words (non-Latin words kept as typed)."""
    out = []
    # Apostrophes join (O'Brien = OBrien); spaces, hyphens and dots separate words.
    for word in re.split(r"[\s\-.,]+", re.sub(r"['\u2019\u02bc`]", "", text or "")):
        folded = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()
        folded = _NON_ALPHA.sub("", folded)
        if folded:
            out.append(folded)
        elif word.strip():
            out.append(word.strip().casefold())
    return out


def token_key(word: str) -> str:
    """Return the phonetic key of one word."""
    if not word.isascii():
        return word.upper()[:12]
    code = jellyfish.metaphone(word).upper()
    if not code:
        return word.upper()[:12]
    code = code[0] + re.sub(r"[HWY]", "", code[1:])
    return re.sub(r"(.)\1+", r"\1", code)[:12]


def words_key(words: list[str]) -> str:
    """Return the key of several words, concatenated without spaces."""
    return "".join(token_key(w) for w in words)


def name_key(given_name: str, family_name: str) -> str:
    """Return the indexed key of a member's name: family key, a space, given-name key."""
    given, family = tokens(given_name), tokens(family_name)
    if not family:
        # Single-field names ("Muhammad Aslam", "Aisha"): the last word acts as the family name.
        given, family = given[:-1], given[-1:]
    return f"{words_key(family)} {words_key(given)}"[:200]


def query_prefixes(query: str) -> list[str]:
    """Return the ``name_key`` prefixes a typed name may match (either word order)."""
    words = tokens(query)
    if not words:
        return []
    if len(words) == 1:
        return [f"{token_key(words[0])} "]
    last_first = f"{token_key(words[-1])} {words_key(words[:-1])}"
    first_first = f"{token_key(words[0])} {words_key(words[1:])}"
    return list(dict.fromkeys([last_first, first_first]))


def display_name(given_name: str, family_name: str) -> str:
    """Return a name normalised for fuzzy comparison."""
    return " ".join(tokens(f"{given_name} {family_name}"))
