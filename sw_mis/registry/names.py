"""Phonetic name keys: spelling variants (Mohammad / Muhammad, Khan / Kahn) share a key.

``Member.name_key`` holds ``"<family key> <given key>"`` so that a B-tree index answers both
"family name" and "family + given name" searches with a range scan, identically on SQLite and
PostgreSQL (no extension needed). Keys are Metaphone codes with the weak letters H, W and Y
dropped after the first letter, because transliterations from Urdu, Arabic or Bengali disagree
mostly on vowels and on those letters.

A family name is keyed without its particles (*de*, *dela*, *van der*, *abdul*, *bin*…), which
people drop, join or space as they please: "Dela Cruz", "dela cruz", "Delacruz" (searched) and
"Cruz" all lead to the key of "Cruz", and "de Souza Lima" to that of "Souza Lima". A family name
made only of particles ("Lê", "Do") keeps them. Given names keep theirs ("Abdul Rahman").
Keys of rows written before a change to this module are brought up to date by
:func:`sw_mis.registry.services.rekey_members` (``sw-mis registry rekey-names``).
"""

from __future__ import annotations

import re
import unicodedata
from itertools import chain

import jellyfish

_NON_ALPHA = re.compile(r"[^a-z]")
_REPEATS = re.compile(r"(.)\1+")

#: Family-name particles (ASCII-folded, lower case): articles, prepositions and "son of /
#: father of / servant of" words that precede or join the name proper.
PARTICLES = frozenset(
    {
        # Romance languages and the Philippines: da Silva, de Souza Lima, Dela Cruz, dos Santos
        *("da", "das", "de", "del", "dela", "della", "delle", "delos", "delas", "des"),
        *("di", "do", "dos", "du", "la", "las", "le", "les", "los", "e", "y"),
        # Dutch and German: van der Berg, von Weber, ter Horst
        *("van", "vander", "vanden", "von", "vom", "der", "den", "ter", "ten", "zu"),
        # Arabic, Urdu, Malay: Al Rashid, Abdul Rahman, Abu Khalil, bin Ismail, ul Haq
        *("al", "el", "bin", "binti", "bint", "ben", "ibn", "abu", "abd", "abdel", "abdul"),
        *("abdal", "abdur", "abdus", "ul", "ud", "ur"),
    }
)
#: A search word glued to a particle ("delacruz") is also read as particle + name when at
#: least this many letters remain ("desai" stays whole); one-letter particles never glue.
_GLUED_REST = 4
#: Glued readings tried per word.
_GLUED_VARIANTS = 3
#: Readings of one typed name searched at most (each is an index range scan).
MAX_PREFIXES = 12
#: Words of a typed name considered; a name is rarely longer.
MAX_QUERY_WORDS = 6


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
    return _REPEATS.sub(r"\1", code)[:12]


def words_key(words: list[str]) -> str:
    """Return the key of several words, concatenated without spaces."""
    return "".join(token_key(w) for w in words)


def family_key(words: list[str]) -> str:
    """Return the key of a family name: its words without particles (all, if only particles)."""
    proper = [w for w in words if w not in PARTICLES]
    return words_key(proper or words)


def name_key(given_name: str, family_name: str) -> str:
    """Return the indexed key of a member's name: family key, a space, given-name key."""
    given, family = tokens(given_name), tokens(family_name)
    if not family:
        # Single-field names ("Muhammad Aslam", "Aisha"): the last word acts as the family name.
        given, family = given[:-1], given[-1:]
    return f"{family_key(family)} {words_key(given)}"[:200]


#: Sounds that spellings of one name confuse, so that their keys differ: the vowel a word
#: starts with (Usman / Osman, Ibrahim / Ebrahim), S / SH (Sazia / Shazia, Bushra / Busra),
#: T / TH (Fatima / Fathima, Tahira / Thahira), J / Y (Yusuf / Jusuf), F / V / W (Waseem /
#: Vaseem).
_CONFUSED_SOUNDS = ("AEIOU", "SX", "T0", "JY", "FW")


def _respellings(key: str) -> list[str]:
    """Return ``key`` and the keys one confused sound away from it."""
    out = [key]
    for i, letter in enumerate(key):
        group = next((g for g in _CONFUSED_SOUNDS if letter in g), "")
        for other in group.replace(letter, ""):
            spelt = key[:i] + other + key[i + 1 :]
            # A key writes a repeated sound once (Shazia is XS, Sazia SS written S): a swap may
            # merge two sounds into one, and one sound may stand for two.
            out += [spelt, _REPEATS.sub(r"\1", spelt)]
            if other not in "AEIOU":
                out += [key[:i] + other + key[i:], key[: i + 1] + other + key[i + 1 :]]
    return list(dict.fromkeys(out))


def sound_alike_keys(given_name: str, family_name: str) -> list[str]:
    """Return the name keys of spellings that may be this name's, its own first.

    A spelling may change the key by one confused sound, in the family or the given name
    (Usman Khan / Osman Khan, Fatima Bibi / Fathima Bibi); given and family name may also
    have been typed the other way round. Each key is an exact lookup in
    ``ix_members_name_key``; rapidfuzz then decides.
    """
    given, family = tokens(given_name), tokens(family_name)
    out = []
    for first, last in [(given, family), (family, given)] if family else [(given, family)]:
        if not last:
            first, last = first[:-1], first[-1:]
        head, rest = family_key(last), words_key(first)
        out.extend(f"{spelt} {rest}"[:200] for spelt in _respellings(head))
        out.extend(f"{head} {spelt}"[:200] for spelt in _respellings(rest))
    return list(dict.fromkeys(out))


def _unglued(word: str) -> list[list[str]]:
    """Return the ways ``word`` reads as particles glued to a name, likeliest first.

    ``delacruz`` → ``[dela, cruz]``, ``[de, la, cruz]``, ``[del, acruz]``: every particle is
    split off while enough letters remain; a name starting with a consonant comes first
    (particles mostly end where the name's first consonant begins), then the shorter name.
    """
    if word in PARTICLES:
        return []
    chains = []
    for particle in PARTICLES:
        rest = word[len(particle) :]
        if len(particle) > 1 and word.startswith(particle) and len(rest) >= _GLUED_REST:
            chains.extend([particle, *more] for more in (_unglued(rest) or [[rest]]))
    chains.sort(key=lambda c: (c[-1][0] in "aeiou", len(c[-1]), c))
    return chains[:_GLUED_VARIANTS]


def _readings(words: list[str]) -> list[str]:
    """Return the key prefixes of ``words`` read as given and family names, in every split."""
    n = len(words)
    # The family name last ("Maria Dela Cruz"), then first ("Khan Muhammad"), then alone.
    last = [f"{family_key(words[k:])} {words_key(words[:k])}" for k in range(n - 1, 0, -1)]
    first = [f"{family_key(words[:k])} {words_key(words[k:])}" for k in range(1, n)]
    return [*last, *first, f"{family_key(words)} "]


def query_prefixes(query: str) -> list[str]:
    """Return the ``name_key`` prefixes a typed name may match, most likely readings first.

    Every split of the words into given and family name is tried, in either order, and all of
    them as a family name ("Dela Cruz"); a word glued to a particle ("delacruz") is also read
    apart. At most :data:`MAX_PREFIXES`.
    """
    words = tokens(query)[:MAX_QUERY_WORDS]
    if not words:
        return []
    variants = [words] + [
        [*words[:i], *split, *words[i + 1 :]]
        for i, word in enumerate(words)
        for split in _unglued(word)
    ]
    prefixes = dict.fromkeys(chain.from_iterable(_readings(v) for v in variants))
    return list(prefixes)[:MAX_PREFIXES]


def display_name(given_name: str, family_name: str) -> str:
    """Return a name normalised for fuzzy comparison."""
    return " ".join(tokens(f"{given_name} {family_name}"))
