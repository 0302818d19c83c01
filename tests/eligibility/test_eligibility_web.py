"""The counter's eligibility page, the schemes pages and API, and the rules CLI."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from click.testing import CliRunner

from sw_mis.cli import main
from sw_mis.config import PROJECT_ROOT
from sw_mis.eligibility.engine import screen_household
from sw_mis.eligibility.service import household_snapshot, rulebook
from tests.factories import api_headers, login, make_household, make_office, make_user

AS_OF = dt.date(2025, 6, 1)


def _poor_widow(db_session, clerk, **overrides):
    return make_household(db_session, clerk, pmt_score=20, in_social_registry=True, **overrides)


def test_page_groups_every_scheme_by_the_engines_outcome(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = _poor_widow(db_session, clerk)
    with app.app_context():
        expected = {
            r.scheme: r.outcome
            for r in screen_household(rulebook(), household_snapshot(household), AS_OF)
        }
    login(client, clerk)
    page = client.get(f"/households/{household.ref}/eligibility?as_of={AS_OF}")
    assert page.status_code == 200
    shown = dict(re.findall(r'data-scheme="([^"]+)" data-outcome="([^"]+)"', page.text))
    assert shown == expected
    assert len(shown) >= 15  # every Pakistani scheme in force, not just the eligible ones
    assert page.headers["Cache-Control"] == "no-store"


def test_undetermined_scheme_says_what_to_ask(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = make_household(db_session, clerk, in_social_registry=True)  # PMT unknown
    login(client, clerk)
    page = client.get(f"/households/{household.ref}/eligibility?as_of={AS_OF}")
    block = page.text.split('data-scheme="pk-bisp-kafaalat"', 1)[1].split("</details>", 1)[0]
    assert (
        'data-outcome="undetermined"' in page.text.split('data-scheme="pk-bisp-kafaalat"')[1][:40]
    )
    assert "Ask the family" in block
    assert "Proxy means test (PMT) score" in block
    # Values a criterion used are named by their labels: the rule file's for parameters.
    assert "PMT cut-off: 32" in block


def test_as_of_applies_the_rules_in_force_then(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = _poor_widow(db_session, clerk)
    headers = api_headers(client, clerk)
    early = client.get(
        f"/api/v1/households/{household.ref}/eligibility?as_of=2010-01-01", headers=headers
    ).get_json()
    late = client.get(
        f"/api/v1/households/{household.ref}/eligibility?as_of=2025-06-01", headers=headers
    ).get_json()
    early_ids = {r["scheme"] for r in early["results"]}
    late_ids = {r["scheme"] for r in late["results"]}
    # Nashonuma began in 2024 (its parameters have no value before): not screened in 2010.
    assert "pk-bisp-nashonuma" in late_ids and "pk-bisp-nashonuma" not in early_ids
    amounts = {r["scheme"]: r["benefit"] for r in early["results"] + late["results"]}
    assert amounts["pk-bisp-kafaalat"]["currency"] == "PKR"


def test_eligibility_api_contract(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = _poor_widow(db_session, clerk)
    body = client.get(
        f"/api/v1/households/{household.ref}/eligibility?as_of={AS_OF}",
        headers=api_headers(client, clerk),
    ).get_json()
    assert body["household"] == household.ref
    assert body["as_of"] == AS_OF.isoformat()
    assert body["rules_version"] == app.extensions["sw_mis.rulebook"].version
    kafaalat = next(r for r in body["results"] if r["scheme"] == "pk-bisp-kafaalat")
    assert kafaalat["outcome"] in ("eligible", "not_eligible", "undetermined")
    assert {"id", "label", "outcome", "values"} <= set(kafaalat["criteria"][0])
    assert all({"id", "outcome"} <= set(m) for m in kafaalat["members"])


def test_bad_as_of_is_a_clear_error(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = _poor_widow(db_session, clerk)
    response = client.get(
        f"/api/v1/households/{household.ref}/eligibility?as_of=2025-13-40",
        headers=api_headers(client, clerk),
    )
    assert response.status_code == 422
    assert "as_of" in response.get_json()["errors"]


def test_another_offices_household_is_not_found(app, client, db_session):
    clerk = make_user(db_session, "clerk")
    household = _poor_widow(db_session, clerk)
    sindh = make_office(db_session, "SD-01", ["PK-SD"], name="Sindh office")
    outsider = make_user(db_session, "clerk", office=sindh)
    response = client.get(
        f"/api/v1/households/{household.ref}/eligibility", headers=api_headers(client, outsider)
    )
    assert response.status_code == 404
    login(client, outsider)
    assert client.get(f"/households/{household.ref}/eligibility").status_code == 404


def test_schemes_api_lists_and_describes_with_sources(app, client, db_session):
    officer = make_user(db_session, "programme_officer")
    headers = api_headers(client, officer)
    items = client.get("/api/v1/schemes", headers=headers).get_json()["items"]
    assert len(items) >= 60
    assert {"id", "name", "country", "unit", "agency"} <= set(items[0])
    detail = client.get("/api/v1/schemes/pk-bisp-kafaalat", headers=headers).get_json()
    assert detail["unit"] == "member"
    assert all(p["reference"].startswith("http") for p in detail["parameters"])
    assert client.get("/api/v1/schemes/no-such-scheme", headers=headers).status_code == 404


def test_scheme_page_shows_criteria_in_plain_words(app, client, db_session):
    officer = make_user(db_session, "programme_officer")
    login(client, officer)
    page = client.get("/schemes/pk-bisp-kafaalat")
    assert page.status_code == 200
    assert "National Socio-Economic Registry" in page.text
    assert "PMT cut-off" in page.text


def test_rules_check_reports_file_and_line(tmp_path: Path):
    pack = tmp_path / "zz"
    pack.mkdir()
    (pack / "pack.yaml").write_text("country: ZZ\nname: Test\ncurrency: XXX\nlanguages: [en]\n")
    (pack / "areas.yaml").write_text("areas:\n  - {code: ZZ-A, name: A, level: 1}\n")
    (pack / "zz-broken.yaml").write_text(
        "id: zz-broken\nname: Broken\nagency: X\nunit: household\n"
        "criteria:\n  - id: c\n    label: c\n    when: no_such_fact > 3\n"
    )
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert re.search(r"zz-broken\.yaml:8: .*no_such_fact", result.output)


def test_rules_check_passes_on_the_shipped_packs():
    result = CliRunner().invoke(main, ["rules", "check", str(PROJECT_ROOT / "rules")])
    assert result.exit_code == 0, result.output


def _draft_form(client, scheme_id):
    page = client.get(f"/schemes/try?scheme={scheme_id}")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    draft = (PROJECT_ROOT / "rules" / "pk" / f"{scheme_id}.yaml").read_text(encoding="utf-8")
    assert "pmt_cutoff" in page.text  # the form starts from the scheme as shipped
    return token, draft


def test_try_a_draft_rule_without_saving(app, client, db_session):
    officer = make_user(db_session, "programme_officer")
    clerk = make_user(db_session, "clerk")
    household = make_household(db_session, clerk, pmt_score=50, in_social_registry=True)
    login(client, officer)
    token, draft = _draft_form(client, "pk-bisp-kafaalat")
    version = app.extensions["sw_mis.rulebook"].version

    def trial(text):
        return client.post("/schemes/try", data={
            "csrf_token": token, "draft": text, "household": household.ref,
            "as_of": AS_OF.isoformat()})

    shipped = trial(draft)
    assert shipped.status_code == 200
    assert 'data-outcome="not_eligible"' in shipped.text  # PMT 50 is above both cut-offs
    raised = trial(draft.replace("{2021-09-23: 32}", "{2021-09-23: 60}"))
    assert 'data-outcome="not_eligible"' not in raised.text  # the draft moves the cut-off
    broken = trial(draft.replace("when: in_social_registry", "when: in_social_registri"))
    assert broken.status_code == 422
    assert re.search(r"draft:\d+: .*in_social_registri", broken.text)
    assert app.extensions["sw_mis.rulebook"].version == version  # nothing was saved


def test_clerks_cannot_try_drafts(app, client, db_session):
    login(client, make_user(db_session, "clerk"))
    assert client.get("/schemes/try").status_code == 403
