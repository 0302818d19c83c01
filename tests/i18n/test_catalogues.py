"""The catalogues: up to date with the sources, complete in every language, and compiled.

``messages.pot`` must list exactly what ``pybabel extract`` finds today (so a new ``_()`` that
nobody extracted fails here), and each language's ``.po`` must translate every message with
the same ``%(placeholders)s``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from sw_mis.config import PROJECT_ROOT
from sw_mis.web.i18n import LANGUAGES, TRANSLATIONS, compile_catalogues

TRANSLATED = sorted(set(LANGUAGES) - {"en"})
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
    "_l": None,
    "lazy_gettext": None,
}


def _catalog(path: Path, locale: str | None = None):  # type: ignore[no-untyped-def]
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _extracted_ids() -> set[object]:
    with (PROJECT_ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: set[object] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message)
    return found


def _ids(catalog) -> set[object]:  # type: ignore[no-untyped-def]
    return {m.id for m in catalog if m.id}


def test_the_template_catalogue_lists_what_the_sources_mark() -> None:
    pot = _ids(_catalog(TRANSLATIONS / "messages.pot"))
    extracted = _extracted_ids()
    new, gone = sorted(extracted - pot, key=str), sorted(pot - extracted, key=str)
    assert not new and not gone, (
        f"messages.pot is stale (new: {new[:10]}, no longer used: {gone[:10]}). Run:\n"
        "  pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output "
        "-o sw_mis/translations/messages.pot .\n"
        "  pybabel update -i sw_mis/translations/messages.pot -d sw_mis/translations "
        "--no-fuzzy-matching\nthen translate the new messages (docs/languages.md)"
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_is_translated(lang: str) -> None:
    pot = _ids(_catalog(TRANSLATIONS / "messages.pot"))
    catalog = _catalog(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", lang)
    assert _ids(catalog) == pot, f"{lang}: run pybabel update (the .po differs from the .pot)"
    untranslated = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            untranslated.append(message.id)
    assert not untranslated, f"{lang}: {len(untranslated)} untranslated: {untranslated[:10]}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_their_placeholders(lang: str) -> None:
    catalog = _catalog(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", lang)
    problems = [
        f"{message.id!r}: {'; '.join(str(e) for e in errors)}"
        for message, errors in catalog.check()
    ]
    assert not problems, f"{lang}: " + "\n".join(problems)


def test_catalogues_compile_and_translate(tmp_path: Path) -> None:
    out = compile_catalogues(TRANSLATIONS, tmp_path)
    assert out == tmp_path
    for lang in TRANSLATED:
        translations = Translations.load(str(tmp_path), [lang])
        assert translations.gettext("Sign in") != "Sign in", lang
        assert translations.ngettext("%(num)d scheme", "%(num)d schemes", 2) != "%(num)d schemes"


def test_a_stale_compiled_catalogue_is_rebuilt(tmp_path: Path) -> None:
    source = tmp_path / "src"
    po = source / "fr" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid "Yes"\nmsgstr "Oui"\n', encoding="utf-8")
    compile_catalogues(source)
    assert Translations.load(str(source), ["fr"]).gettext("Yes") == "Oui"
    po.write_text('msgid "Yes"\nmsgstr "Ouais"\n', encoding="utf-8")
    mo = po.with_suffix(".mo")
    # Make the .mo look older than the edited .po, as after a git pull.
    old = po.stat().st_mtime - 10
    os.utime(mo, (old, old))
    compile_catalogues(source)
    assert Translations.load(str(source), ["fr"]).gettext("Yes") == "Ouais"
