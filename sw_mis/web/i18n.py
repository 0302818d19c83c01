"""Interface languages: locale per user, the language switcher, and the message catalogues.

The catalogues are ``sw_mis/translations/<lang>/LC_MESSAGES/messages.po`` (sources, in git).
Their compiled ``.mo`` files are build output, never committed: :func:`compile_catalogues` builds
any that is missing or older than its ``.po`` when the app is created (a few ``stat`` calls when
nothing changed), so a fresh clone, ``pip install -e .`` and CI all serve translated pages with
no extra step. ``pybabel compile -d sw_mis/translations`` does the same by hand.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, flash, has_request_context, redirect, request, session, url_for
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from sw_mis.auth.access import public
from sw_mis.db import get_session

log = logging.getLogger("sw_mis")

#: Interface languages, each named in its own language (how a reader finds theirs in a list).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "pt": "Português",
    "ur": "اردو",
}
DEFAULT_LANGUAGE = "en"
#: Languages written right to left: the page gets ``dir="rtl"`` and Bootstrap's RTL build.
RTL_LANGUAGES = frozenset({"ur"})
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"

#: Role names as people read them (the codes stay English in the database and the API).
ROLE_LABELS: dict[str, Any] = {
    "clerk": _l("clerk"),
    "supervisor": _l("supervisor"),
    "programme_officer": _l("programme officer"),
    "data_manager": _l("data manager"),
    "auditor": _l("auditor"),
    "admin": _l("administrator"),
}

#: Who a scheme's benefit is for (``unit`` in a rule file).
UNIT_LABELS: dict[str, Any] = {"household": _l("household"), "member": _l("member")}

babel = Babel()
bp = Blueprint("i18n", __name__)


def compile_catalogues(source: Path = TRANSLATIONS, target: Path | None = None) -> Path:
    """Compile every ``.po`` under ``source`` whose ``.mo`` is missing or stale; return the dir.

    The ``.mo`` goes beside its ``.po``; where that folder is read-only (an installed package),
    into a temporary folder, whose path is returned so Flask-Babel reads from there.
    """
    target = target or source
    for po in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            _write_mo(po, mo)
        except OSError:
            if target != source:
                raise
            fallback = Path(tempfile.mkdtemp(prefix="sw-mis-translations-"))
            log.warning("%s is read-only: compiling catalogues into %s", mo.parent, fallback)
            return compile_catalogues(source, fallback)
    return target


def _write_mo(po: Path, mo: Path) -> None:
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parent.parent.name, domain=DOMAIN)
    mo.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: several workers starting at once never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def select_locale() -> str:
    """Return the request's language: the user's own, else the session's, else the browser's.

    Outside a request (the CLI, background jobs) there is no user, session or browser to ask:
    text comes out in English, as the CLI has always printed it.
    """
    if not has_request_context():
        return DEFAULT_LANGUAGE
    language = getattr(current_user, "language", None) if current_user else None
    if language in LANGUAGES and getattr(current_user, "is_authenticated", False):
        return str(language)
    if session.get("lang") in LANGUAGES:
        return str(session["lang"])
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    """Return the language code pages are rendered in (``en`` outside a request)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def localized(texts: dict[str, str] | None, default: str) -> str:
    """Return ``texts[current language]`` (a rule file's ``*_i18n`` map) or ``default``."""
    return (texts or {}).get(current_language()) or default


def role_label(role: str) -> str:
    """Return a role's name in the current language."""
    return str(ROLE_LABELS.get(role, role.replace("_", " ")))


def unit_label(unit: str) -> str:
    """Return who a benefit is for (household or member) in the current language."""
    return str(UNIT_LABELS.get(unit, unit))


def _template_globals() -> dict[str, Any]:
    lang = current_language()
    return {
        "page_lang": lang,
        "page_dir": "rtl" if lang in RTL_LANGUAGES else "ltr",
        "languages": LANGUAGES,
        "role_label": role_label,
        "unit_label": unit_label,
        "localized": localized,
    }


def _safe_return(target: str | None) -> str:
    # Same-site paths only, as after sign-in: the switcher must not become an open redirect.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("auth.login")


@bp.post("/language")
@public
def set_language():  # type: ignore[no-untyped-def]
    """Switch the interface language: kept in the session, and on the user when signed in."""
    language = request.form.get("language", "")
    back = _safe_return(request.form.get("next"))
    if language not in LANGUAGES:
        flash(_("This language is not available."), "warning")
        return redirect(back)
    session["lang"] = language
    if current_user.is_authenticated:
        # The request commits at the edge (sw_mis.db); the next sign-in keeps the choice.
        user = current_user._get_current_object()  # type: ignore[attr-defined]
        user.language = language
        get_session().add(user)
    return redirect(back)


def extract_fact_texts(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Any:
    """Yield the fact declarations' texts for ``pybabel extract`` (``babel.cfg`` maps them here).

    Labels, sections, help, units and choice labels live as data in
    :mod:`sw_mis.registry.fields`; forms and presenters translate them when a page renders.
    """
    from sw_mis.registry.fields import HOUSEHOLD_FIELDS, MEMBER_FIELDS
    from sw_mis.registry.models import ENROLMENT_STATUSES
    from sw_mis.registry.validation import choice_label

    source = fileobj.read().decode("utf-8").splitlines()

    def line_of(text: str) -> int:
        quoted = repr(text)
        return next((i for i, line in enumerate(source, 1) if quoted in line), 1)

    seen: set[str] = set()
    for fact in (*HOUSEHOLD_FIELDS, *MEMBER_FIELDS):
        choices = [choice_label(c) for c in fact.choices]
        for text in (fact.label, fact.section, fact.help, fact.unit, *choices):
            if text and text not in seen and any(ch.isalpha() for ch in text):
                seen.add(text)
                yield line_of(text), None, text, [f"fact: {fact.name}"]
    for status in ENROLMENT_STATUSES:
        if choice_label(status) not in seen:
            yield 1, None, choice_label(status), ["enrolment status"]


def init_app(app: Flask) -> None:
    """Compile stale catalogues, register Flask-Babel, the switcher and the template globals."""
    directory = compile_catalogues()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(directory)
    babel.init_app(app, locale_selector=select_locale)
    app.context_processor(_template_globals)
