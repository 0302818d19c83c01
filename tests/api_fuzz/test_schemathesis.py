"""Fuzz the JSON API from its own OpenAPI document (schemathesis, stateless).

Every operation of ``/api/v1/openapi.json`` gets generated requests, valid (positive) and
invalid (negative) ones, sent through the WSGI app with the bearer token of a user whose role
may use the operation. Every answer must be no 5xx, carry a documented status and content type,
and match the documented schema. The run is bounded and derandomised: the same requests on
every run, at least :data:`MIN_REQUESTS` in all, in well under two minutes.

The database is a fresh, really migrated SQLite file of its own (the fuzzer commits thousands
of writes; the savepoint fixture of ``tests/conftest.py`` is not meant for that), holding a few
households and one referral so that operations on ``{ref}`` also reach their success paths.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from sw_mis import create_app
from sw_mis.auth import access
from sw_mis.auth import testing as auth_testing
from sw_mis.db import make_engine, session_scope
from sw_mis.migrate import upgrade
from tests.factories import default_areas, make_household, make_office, make_user

pytestmark = pytest.mark.slow

#: The issue's bar: at least this many generated requests across all operations.
MIN_REQUESTS = 2000
#: Examples per operation and generation mode (positive, negative).
EXAMPLES = {GenerationMode.POSITIVE: 100, GenerationMode.NEGATIVE: 60}
#: Signing in hashes a password with argon2 (slow on purpose): fewer examples there.
AUTH_EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
    ignored_auth,
]
# positive_data_acceptance is left out on purpose: the schemas describe shapes, and the services
# refuse schema-valid households for business reasons (no members, no consent) with a 422.
#: Every operation of the API, fuzzed one test each (a new operation fails the coverage test
#: until it is listed here).
OPERATIONS = (
    "POST /api/v1/auth/token",
    "DELETE /api/v1/auth/token",
    "GET /api/v1/households",
    "POST /api/v1/households",
    "POST /api/v1/households/search",
    "GET /api/v1/households/{ref}",
    "PATCH /api/v1/households/{ref}",
    "POST /api/v1/households/{ref}/events",
    "GET /api/v1/households/{ref}/enrolments",
    "POST /api/v1/households/{ref}/enrolments",
    "GET /api/v1/households/{ref}/eligibility",
    "GET /api/v1/schemes",
    "GET /api/v1/schemes/{scheme_id}",
    "GET /api/v1/schemes/{scheme_id}/beneficiaries",
    "POST /api/v1/referrals",
    "GET /api/v1/referrals/{ref}",
    "PATCH /api/v1/referrals/{ref}",
    "GET /api/v1/referrals/{ref}/slip.pdf",
)
#: Roles tried, in order, for an operation: the first one allowed is used.
ROLES = ("admin", "supervisor", "clerk", "programme_officer")


class Fixture:
    """The app under fuzz, with a token per role and real refs to aim at."""

    def __init__(self, app: Flask, tokens: dict[str, str], households: list[str], referral: str):
        self.app = app
        self.tokens = tokens
        self.households = households
        self.referral = referral


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    app = create_app(
        {
            "SW_MIS_ENV": "testing",
            "SW_MIS_DATABASE_URL": url,
            "SW_MIS_SECRET_KEY": "fuzz-secret-key-" + "x" * 32,
            "SW_MIS_REFERRAL_KEYS": "k1:fuzz-referral-signing-key",
            "SW_MIS_RULE_PACKS": "pk",
        },
        engine=engine,
    )
    app.config["RATELIMIT_ENABLED"] = False
    with session_scope(app) as session:
        areas = default_areas(session)
        office = make_office(session, "ALL-01", [areas["PK-PB"], areas["PK-SD"]])
        users = {role: make_user(session, role, office, username=f"fuzz-{role}") for role in ROLES}
        refs = [make_household(session, users["clerk"]).ref for _ in range(3)]
    client = app.test_client()
    tokens = {role: auth_testing.api_token(client, f"fuzz-{role}") for role in ROLES}
    referral = _issue_any_referral(app, tokens["supervisor"], refs)
    yield Fixture(app, tokens, refs, referral)
    engine.dispose()


def _issue_any_referral(app: Flask, token: str, refs: list[str]) -> str:
    """Issue a referral (a supervisor's token) for a household-level scheme; return its ref."""
    client = app.test_client()
    headers = auth_testing.bearer(token)
    for ref in refs:
        report = client.get(f"/api/v1/households/{ref}/eligibility", headers=headers).get_json()
        for result in report["results"]:
            if result["outcome"] != "not_eligible" and not result["members"]:
                answer = client.post(
                    "/api/v1/referrals",
                    json={
                        "household": ref,
                        "scheme": result["scheme"],
                        "approve_undetermined": True,
                    },
                    headers=headers,
                )
                if answer.status_code == 201:
                    return str(answer.get_json()["ref"])
    raise AssertionError("no referral could be issued for the fuzz households")


def _token_for(app: Flask, operation: Any, tokens: dict[str, str]) -> str | None:
    """Return the token of the first role allowed to use ``operation`` (None: public)."""
    adapter = app.url_map.bind("localhost")
    path = operation.path.replace("{", "<").replace("}", ">")
    path = "/".join(seg if not seg.startswith("<") else "x" for seg in path.split("/"))
    endpoint, _ = adapter.match(path, method=operation.method.upper())
    roles = access.allowed_roles(app, endpoint, operation.method.upper())
    if roles == access.PUBLIC:
        return None
    for role in ROLES:
        if roles and role in roles:
            return tokens[role]
    return tokens["admin"]


def _fixed_paths(operation: Any, fixture: Fixture) -> list[dict[str, str]]:
    """Real path parameters worth aiming at, besides the generated ones."""
    if "{ref}" not in operation.path:
        return []
    if operation.path.startswith("/api/v1/referrals"):
        return [{"ref": fixture.referral}]
    return [{"ref": ref} for ref in fixture.households]


def _fuzz(
    fixture: Fixture,
    strategy: Any,
    examples: int,
    label: str,
    headers: dict[str, str],
    sent: collections.Counter[str],
    failures: dict[str, str],
) -> None:
    """Send ``examples`` generated cases of one operation; collect failures, don't stop."""

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        # Revoking a token gets a fresh one each time, so the other operations keep theirs.
        auth = headers
        if label == "DELETE /api/v1/auth/token":
            fresh = auth_testing.api_token(fixture.app.test_client(), "fuzz-admin")
            auth = auth_testing.bearer(fresh)
        sent[label] += 1
        try:
            # Passed as call headers (not case data), so ignored_auth knows what to take away.
            case.call_and_validate(headers=auth, checks=CHECKS)
        except FailureGroup as exc:
            key = f"{label}: {type(exc.exceptions[0]).__name__}"
            failures.setdefault(key, str(exc)[:3000])

    run()


def _budget(path: str) -> dict[GenerationMode, int]:
    return AUTH_EXAMPLES if "/auth/" in path else EXAMPLES


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Fixture) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app.app)


def test_fuzz_covers_every_operation_with_enough_requests(api_schema: Any) -> None:
    """Every documented operation is fuzzed, ≥ 2,000 requests in all."""
    operations = [f"{op.method.upper()} {op.path}" for op in _operations(api_schema)]
    assert sorted(operations) == sorted(OPERATIONS), "update OPERATIONS to the API's list"
    total = sum(sum(_budget(label.split()[1]).values()) for label in OPERATIONS)
    assert total >= MIN_REQUESTS


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzz_operation(label: str, fuzz_app: Fixture, api_schema: Any) -> None:
    """Generated requests to one operation: no 5xx, documented status, type, headers, body."""
    by_label = {f"{op.method.upper()} {op.path}": op for op in _operations(api_schema)}
    if label not in by_label:
        pytest.fail(f"{label} is no longer in the API: update OPERATIONS")
    operation = by_label[label]
    token = _token_for(fuzz_app.app, operation, fuzz_app.tokens)
    headers = auth_testing.bearer(token) if token else {}
    sent: collections.Counter[str] = collections.Counter()
    failures: dict[str, str] = {}
    budget = _budget(operation.path)
    for mode, examples in budget.items():
        strategies = [operation.as_strategy(generation_mode=mode)]
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters=fixed)
            for fixed in _fixed_paths(operation, fuzz_app)
        ]
        _fuzz(fuzz_app, st.one_of(strategies), examples, label, headers, sent, failures)
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    # Derandomised generation sends the whole budget; fewer means the strategy dried up.
    assert sent[label] == sum(budget.values())
