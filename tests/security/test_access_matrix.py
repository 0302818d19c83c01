"""The route matrix in docs/security.md is the truth: every route, every role, real requests.

Three checks, each failing with the exact row to add, remove or change:

1. every rule of the URL map (per method) has a row in the table, and every row is a rule;
2. the roles the code declares (``sw_mis.auth.access.allowed_roles``) equal the row's roles;
3. for every row, every role and an anonymous visitor, a real request is allowed or refused as
   the row says — HTML with a signed-in session, the API with a bearer token.

Routes whose path parameters the test cannot guess get a value from ``PATH_VALUES``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from factories import make_household, make_user  # tests/factories.py, shared by the suites
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.routing import IntegerConverter, PathConverter, Rule, UUIDConverter

from sw_mis.auth.access import PUBLIC, allowed_roles
from sw_mis.auth.models import ROLES
from sw_mis.auth.testing import api_token, bearer, login
from sw_mis.config import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "security.md"
START, END = "<!-- route-matrix:start -->", "<!-- route-matrix:end -->"
SIGNED_IN = "signed-in"
ANONYMOUS = "anonymous"
IGNORED_METHODS = {"HEAD", "OPTIONS"}

#: Values for path parameters: ``"name"`` for any route, or ``"blueprint:name"`` for one
#: blueprint's routes (checked first). ``ctx`` holds the objects made for the test: ``office``,
#: ``users`` by role, ``other_user``, ``household``. A parameter not listed gets a dummy of its
#: converter's type: a request for a record that does not exist is still allowed or refused
#: before the view runs (and must then answer 404, not 500).
PATH_VALUES: dict[str, Callable[[SimpleNamespace], Any]] = {
    "user_id": lambda ctx: ctx.other_user.id,
    "office_id": lambda ctx: ctx.office.id,
    "filename": lambda ctx: "css/app.css",
    "ref": lambda ctx: ctx.household.ref,
    "household_ref": lambda ctx: ctx.household.ref,
    "referrals:ref": lambda ctx: "R-NONE",
    "api_referrals:ref": lambda ctx: "R-NONE",
}

#: Requests that end the credentials they were made with; the test signs in again after them.
ENDS_SESSION = {("POST", "/logout")}
ENDS_TOKEN = {("DELETE", "/api/v1/auth/token")}


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    endpoint: str
    roles: str  # "public", "signed-in" or "role, role"

    def allows(self, who: str) -> bool:
        """Return True if ``who`` (a role or "anonymous") may use this route."""
        if self.roles == PUBLIC:
            return True
        if who == ANONYMOUS:
            return False
        return self.roles == SIGNED_IN or who in {r.strip() for r in self.roles.split(",")}

    def markdown(self) -> str:
        return f"| {self.method} | `{self.rule}` | `{self.endpoint}` | {self.roles} |"


def roles_cell(declared: frozenset[str] | str | None) -> str:
    """Spell declared roles as the table does."""
    if declared == PUBLIC:
        return PUBLIC
    if not declared:
        return ""
    if set(declared) == set(ROLES):
        return SIGNED_IN
    return ", ".join(r for r in ROLES if r in declared)


def parse_matrix(text: str) -> dict[tuple[str, str], Row]:
    """Read the rows between the route-matrix markers of docs/security.md."""
    assert START in text and END in text, f"{DOC} lost its {START} / {END} markers"
    rows: dict[tuple[str, str], Row] = {}
    body = text.split(START, 1)[1].split(END, 1)[0]
    for line in body.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in {"Method", ""} or set(cells[0]) <= {"-"}:
            continue
        row = Row(cells[0].upper(), cells[1], cells[2], cells[3])
        assert (row.method, row.rule) not in rows, f"duplicate row in {DOC}: {line}"
        rows[(row.method, row.rule)] = row
    return rows


def app_rows(app: Flask) -> dict[tuple[str, str], Row]:
    """Return what the table should say, from the app's URL map and declared roles."""
    rows = {}
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            declared = allowed_roles(app, rule.endpoint, method)
            rows[(method, rule.rule)] = Row(method, rule.rule, rule.endpoint, roles_cell(declared))
    return rows


@pytest.fixture(scope="module")
def matrix() -> dict[tuple[str, str], Row]:
    return parse_matrix(DOC.read_text(encoding="utf-8"))


def test_every_route_has_a_row_and_every_row_a_route(
    base_app: Flask, matrix: dict[tuple[str, str], Row]
) -> None:
    actual = app_rows(base_app)
    undeclared = [r for r in actual.values() if not r.roles]
    assert not undeclared, (
        "These routes declare no roles, so everyone is refused (deny by default). Decorate the "
        "view with @allow(...) or @public (sw_mis.auth.access):\n"
        + "\n".join(f"  {r.method} {r.rule} -> {r.endpoint}" for r in undeclared)
    )
    missing = [actual[k] for k in actual if k not in matrix]
    assert not missing, f"Add these rows to the route matrix in {DOC}:\n" + "\n".join(
        r.markdown() for r in missing
    )
    stale = [matrix[k] for k in matrix if k not in actual]
    assert not stale, f"Remove these rows from {DOC}: no such route any more:\n" + "\n".join(
        r.markdown() for r in stale
    )


def test_declared_roles_match_the_table(
    base_app: Flask, matrix: dict[tuple[str, str], Row]
) -> None:
    actual = app_rows(base_app)
    wrong = [
        (matrix[k], actual[k])
        for k in matrix
        if k in actual
        and (
            _role_set(matrix[k].roles) != _role_set(actual[k].roles)
            or matrix[k].endpoint != actual[k].endpoint
        )
    ]
    assert not wrong, (
        f"The code and {DOC} disagree. Fix the decorator, or replace the row with the one the "
        "code declares:\n"
        + "\n".join(f"  table: {doc.markdown()}\n  code:  {code.markdown()}" for doc, code in wrong)
    )


def _role_set(cell: str) -> frozenset[str]:
    if cell in (PUBLIC, SIGNED_IN, ""):
        return frozenset({cell})
    return frozenset(r.strip() for r in cell.split(","))


# --- real requests ----------------------------------------------------------------------------
def _dummy(converter: Any) -> Any:
    if isinstance(converter, IntegerConverter):
        return 1
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=1)
    if isinstance(converter, PathConverter):
        return "x/y"
    return "X"


def _url(app: Flask, rule: Rule, method: str, ctx: SimpleNamespace) -> str:
    blueprint = rule.endpoint.split(".")[0]
    values = {}
    for name, conv in rule._converters.items():
        value = PATH_VALUES.get(f"{blueprint}:{name}") or PATH_VALUES.get(name)
        values[name] = value(ctx) if value else _dummy(conv)
    url = rule.build(values, append_unknown=False)[1]  # type: ignore[index]
    # The URL must reach this very rule: a value its converter refuses would make a 404 that
    # says nothing about access.
    matched, _ = app.url_map.bind("localhost").match(url, method=method)
    assert matched == rule.endpoint, f"{method} {url} reaches {matched}, not {rule.endpoint}"
    return url


def _refused(row: Row, who: str, response: Any) -> bool:
    status = response.status_code
    if status in (401, 403):
        return True
    location = response.headers.get("Location", "")
    # Anonymous visitors of a page are sent to sign in, with where they were going.
    return status in (302, 303) and "/login" in location and "next=" in location


def _expected_refusal(row: Row, who: str) -> str:
    api = row.rule.startswith("/api/")
    if who == ANONYMOUS:
        return "401" if api else "a redirect to /login?next=…"
    return "403"


@pytest.fixture
def ctx(db_session: Session) -> SimpleNamespace:
    users = {role: make_user(db_session, role, username=f"m-{role}") for role in ROLES}
    office = users["clerk"].office
    other = make_user(db_session, "clerk", office, username="m-other-clerk")
    household = make_household(db_session, users["clerk"])
    return SimpleNamespace(office=office, users=users, other_user=other, household=household)


def test_every_role_gets_exactly_what_the_table_says(
    app: Flask, ctx: SimpleNamespace, matrix: dict[tuple[str, str], Row], monkeypatch: Any
) -> None:
    # CSRF is tested on its own (test_csrf.py); here an empty POST must reach the access check.
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    rules = {(m, r.rule): r for r in app.url_map.iter_rules() for m in r.methods or ()}
    browsers: dict[str, FlaskClient] = {ANONYMOUS: app.test_client()}
    tokens: dict[str, str | None] = {ANONYMOUS: None}

    def sign_in(role: str) -> None:
        browsers[role] = app.test_client()
        response = login(browsers[role], f"m-{role}")
        assert response.status_code == 302, f"{role} cannot sign in: {response.status_code}"
        tokens[role] = api_token(app.test_client(), f"m-{role}")

    for role in ROLES:
        sign_in(role)

    failures = []
    for key, row in sorted(matrix.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        rule = rules.get(key)
        if rule is None:
            continue  # reported by test_every_route_has_a_row_and_every_row_a_route
        url = _url(app, rule, row.method, ctx)
        api = row.rule.startswith("/api/")
        for who in (ANONYMOUS, *ROLES):
            kwargs: dict[str, Any] = {"method": row.method, "follow_redirects": False}
            if api:
                client = app.test_client()
                token = tokens[who]
                if token:
                    kwargs["headers"] = bearer(token)
                if row.method in ("POST", "PUT", "PATCH"):
                    kwargs["json"] = {}
            else:
                client = browsers[who]
                if row.method in ("POST", "PUT", "PATCH"):
                    kwargs["data"] = {}
            response = client.open(url, **kwargs)
            response.close()  # static files are streamed: close them, or they leak
            refused = _refused(row, who, response)
            if response.status_code >= 500 and response.status_code != 503:
                failures.append(
                    f"{row.method} {url} as {who}: server error {response.status_code} "
                    "(a missing or dummy record must answer 404 or 422, never 500)"
                )
            elif row.allows(who) and refused:
                failures.append(
                    f"{row.method} {url} as {who}: refused ({response.status_code}) but the "
                    f"table allows [{row.roles}]"
                )
            elif not row.allows(who) and not refused:
                failures.append(
                    f"{row.method} {url} as {who}: allowed ({response.status_code}) but the "
                    f"table says [{row.roles}]; expected {_expected_refusal(row, who)}"
                )
            if who != ANONYMOUS and (key in ENDS_SESSION or key in ENDS_TOKEN):
                sign_in(who)
    assert not failures, "Access differs from docs/security.md:\n" + "\n".join(failures)


def test_the_table_parses_and_names_only_known_roles(matrix: dict[tuple[str, str], Row]) -> None:
    assert matrix, f"no rows between the markers of {DOC}"
    for row in matrix.values():
        assert re.fullmatch(r"[A-Z]+", row.method), row.markdown()
        if row.roles not in (PUBLIC, SIGNED_IN):
            unknown = _role_set(row.roles) - set(ROLES)
            assert not unknown, f"unknown roles {sorted(unknown)} in {row.markdown()}"
