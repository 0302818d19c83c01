"""Slip tokens: signed, tamper-evident, and still valid after a key rotation."""

from __future__ import annotations

import pytest

from sw_mis.config import Settings
from sw_mis.referrals import tokens
from sw_mis.referrals.models import new_ref, valid_ref

KEYS = {"k1": "first-secret-key", "k2": "second-secret-key"}


def test_token_round_trip():
    token = tokens.make_token("R123456786", KEYS, "k1")
    assert token.startswith("k1.R123456786.")
    result = tokens.verify_token(token, KEYS)
    assert result.genuine and result.ref == "R123456786" and result.kid == "k1"


def test_editing_the_reference_breaks_the_signature():
    token = tokens.make_token("R123456786", KEYS, "k1")
    forged = token.replace("R123456786", "R123456794")
    result = tokens.verify_token(forged, KEYS)
    assert not result.genuine and result.problem == "bad signature"


def test_editing_the_signature_or_key_id_fails():
    token = tokens.make_token("R123456786", KEYS, "k1")
    kid, ref, sig = token.split(".")
    flipped = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    assert not tokens.verify_token(f"{kid}.{ref}.{flipped}", KEYS).genuine
    # The signature covers the key id: moving a token to another key forges nothing.
    assert not tokens.verify_token(f"k2.{ref}.{sig}", KEYS).genuine
    assert tokens.verify_token(f"k9.{ref}.{sig}", KEYS).problem == "unknown key"


@pytest.mark.parametrize(
    "junk", ["", "abc", "k1.R1.x", "k1..x", "a.b.c.d", "k1.R12345678A.x", "../../etc.R123456786.x"]
)
def test_malformed_tokens_are_not_genuine(junk):
    assert not tokens.verify_token(junk, KEYS).genuine


def test_rotation_keeps_old_slips_valid():
    old = tokens.make_token("R123456786", {"k1": KEYS["k1"]}, "k1")
    # The new active key is k2; k1 stays configured for verification only.
    new = tokens.make_token("R123456786", KEYS, "k2")
    assert old != new
    assert tokens.verify_token(old, KEYS).genuine
    assert tokens.verify_token(new, KEYS).genuine
    # Once k1 is retired, its slips stop verifying.
    assert not tokens.verify_token(old, {"k2": KEYS["k2"]}).genuine


def test_signing_keys_from_settings():
    settings = Settings.from_env(
        {"SW_MIS_REFERRAL_KEYS": "k1:aaa,k2:bbb", "SW_MIS_REFERRAL_ACTIVE_KEY": "k2"}
    )
    keys, kid = tokens.signing_keys(settings)
    assert keys == {"k1": "aaa", "k2": "bbb"} and kid == "k2"


def test_development_key_is_derived_from_the_secret_key():
    settings = Settings.from_env({"SW_MIS_SECRET_KEY": "s" * 40})
    keys, kid = tokens.signing_keys(settings)
    assert kid == tokens.DEV_KID and keys[kid] != "s" * 40
    assert keys == tokens.signing_keys(Settings.from_env({"SW_MIS_SECRET_KEY": "s" * 40}))[0]


def test_bad_key_ids_and_refs_are_refused():
    with pytest.raises(tokens.TokenError):
        tokens.make_token("R123456786", {"a.b": "x"}, "a.b")
    with pytest.raises(tokens.TokenError):
        tokens.make_token("R123456786", KEYS, "k3")
    with pytest.raises(tokens.TokenError):
        tokens.make_token("not-a-ref", KEYS, "k1")


def test_verification_url():
    assert tokens.verification_url("https://x.org/", "k1.R1.s") == "https://x.org/v/k1.R1.s"


def test_references_carry_a_check_digit():
    ref = new_ref()
    assert len(ref) == 10 and ref.startswith("R") and valid_ref(ref)
    digits = ref[1:]
    for i in range(len(digits)):
        wrong = digits[:i] + str((int(digits[i]) + 1) % 10) + digits[i + 1 :]
        assert not valid_ref("R" + wrong)
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1]:
            swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
            assert not valid_ref("R" + swapped)
