"""Every word a template shows goes through the catalogues.

Each template is parsed with Jinja (with the i18n extension, so ``{% trans %}`` blocks and
``_()`` calls become gettext calls and drop out). What is left is checked two ways:

* its literal HTML — text between tags and the attributes people read (``title``,
  ``placeholder``, ``aria-label``, ``alt``, a button's ``value``) — may hold no letters;
* a string constant printed by ``{{ ... }}`` (``'The whole household' if …``) must not read
  like words (a capital then lower-case letters, or several words), unless it is an argument
  of a gettext call.

Brand names and symbols are in ``ALLOWED``; anything else must be marked with ``_()``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment, nodes

from sw_mis.config import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"
#: Visible texts that are the same in every language.
ALLOWED = {"sw-mis", "CSV", "XLSX", "PDF", "JSON", "SVG", "YAML", "ID", "A4", "A5"}
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "value", "label"}
GETTEXT_CALLS = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
#: Keyword arguments whose string value is shown to people (others are CSS classes, ids…).
READ_KEYWORDS = {"label", "placeholder", "title", "text", "description"}
WORDS = re.compile(r"[^\W\d_]{2,}")
PROSE = re.compile(r"^[A-Z][a-z]+|[A-Za-z]+ [A-Za-z]+")


def template_paths() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def _env() -> Environment:
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


class _TextCollector(HTMLParser):
    """Collect visible text and read attributes from HTML with Jinja parts blanked out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and not (name == "value" and tag != "button"):
                self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.found.append(data)


def _words(text: str) -> list[str]:
    for allowed in ALLOWED:
        text = text.replace(allowed, " ")
    return WORDS.findall(text)


def _not_shown(tree: nodes.Template) -> set[int]:
    """Return the ids of constants that are never shown as they are.

    Arguments of gettext calls (translated), of filters and tests, subscripts and keyword
    arguments such as ``class_='btn btn-primary'``.
    """
    skip: set[int] = set()

    def consts(node: nodes.Node) -> set[int]:
        found = {id(n) for n in node.find_all(nodes.Const)}
        return found | ({id(node)} if isinstance(node, nodes.Const) else set())

    for node in tree.find_all((nodes.Call, nodes.Filter, nodes.Test, nodes.Getitem)):
        if isinstance(node, nodes.Call):
            if isinstance(node.node, nodes.Name) and node.node.name in GETTEXT_CALLS:
                skip |= consts(node)
            for kw in node.kwargs:
                if kw.key not in READ_KEYWORDS:
                    skip |= consts(kw)
        elif isinstance(node, nodes.Getitem):
            skip |= consts(node.arg)
        elif node.name not in ("default", "d"):  # a default value is shown
            for arg in node.args:
                skip |= consts(arg)
    return skip


def unmarked_text(source: str) -> list[str]:
    """Return the visible texts of a template that are not marked for translation."""
    tree = _env().parse(source)
    chunks = [n.data for n in tree.find_all(nodes.TemplateData)]
    collector = _TextCollector()
    # Jinja parts become a space: a tag cut by {% if %} still parses as one tag.
    collector.feed(" ".join(chunks))
    collector.close()
    problems = [" ".join(text.split()) for text in collector.found if _words(text)]
    marked = _not_shown(tree)
    for output in tree.find_all(nodes.Output):
        for const in output.find_all(nodes.Const):
            value = const.value
            if (
                isinstance(value, str)
                and id(const) not in marked
                and PROSE.search(value)
                and _words(value)
            ):
                problems.append(value)
    return problems


@pytest.mark.parametrize("path", template_paths(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_visible_text_is_marked_for_translation(path: Path) -> None:
    problems = unmarked_text(path.read_text(encoding="utf-8"))
    assert not problems, (
        f"{path.relative_to(PROJECT_ROOT)} shows text not marked for translation: {problems!r}. "
        "Wrap it in {{ _('…') }} or {% trans %}…{% endtrans %} (and update the catalogues)."
    )


@pytest.mark.parametrize("path", template_paths(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_hides_gettext(path: Path) -> None:
    """A loop or ``set`` variable named ``_`` would make every later ``_('…')`` fail."""
    tree = _env().parse(path.read_text(encoding="utf-8"))
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "store"}
    assert not stored & GETTEXT_CALLS, f"{path.name} assigns {sorted(stored & GETTEXT_CALLS)}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<p>Hello</p>", ["Hello"]),
        ("<p>{{ _('Hello') }}</p>", []),
        ("<p>{% trans %}Hello {{ name }}{% endtrans %}</p>", []),
        ('<input placeholder="Your name">', ["Your name"]),
        ('<input type="hidden" value="abc">', []),
        ("<td>{{ x if x else 'The whole household' }}</td>", ["The whole household"]),
        ("<td>{{ x.replace('_', ' ') }} · sw-mis</td>", []),
        ("<tr{% if x %} class=\"text-muted\"{% endif %}><td>{{ f(class_='btn btn-a') }}", []),
        ("{{ render(field, label='Your reason') }}", ["Your reason"]),
        ("{{ x|default('Nothing') }}", ["Nothing"]),
        ("{{ x|replace('Old', 'New') }} {{ config['Some Key'] }}", []),
        ("<script>const a = 'Hello';</script>", []),
        ("<p>{{ value }} · ✔ — 12 %</p>", []),
    ],
)
def test_the_checker_itself(source: str, expected: list[str]) -> None:
    assert unmarked_text(source) == expected
