"""Signed verification tokens for referral slips: ``<kid>.<ref>.<signature>``.

The QR code of a slip carries ``{public_base_url}/v/<token>``. The signature is an HMAC-SHA256
of the key id and the referral reference under the key named by ``kid``; verification uses the
key the token names, so adding a new active key does not void slips already printed, and editing
the reference (or the key id) in a token breaks its signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from sw_mis.config import Settings

#: A key id is short and URL-safe, and never contains the token's separator.
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
REF_PATTERN = re.compile(r"^R[0-9]{9}$")
#: 128 bits of the HMAC: plenty against forgery, and keeps the QR code small.
SIGNATURE_BYTES = 16
_CONTEXT = b"sw-mis referral slip v1"
#: Development without SW_MIS_REFERRAL_KEYS signs with a key derived from the secret key.
DEV_KID = "dev"


class TokenError(ValueError):
    """A token cannot be made with these keys."""


@dataclass(frozen=True)
class Verification:
    """What a token says once checked: genuine or not, and which referral it names."""

    genuine: bool
    ref: str | None = None
    kid: str | None = None
    problem: str = ""


def signing_keys(settings: Settings) -> tuple[dict[str, str], str]:
    """Return the slip signing keys ``{kid: secret}`` and the active kid for ``settings``."""
    if settings.referral_signing_keys:
        return dict(settings.referral_signing_keys), settings.referral_active_key
    # Development only (production refuses to start without keys): a key derived from the
    # secret key, so slips stay verifiable as long as the secret key does.
    derived = hmac.new(settings.secret_key.encode(), b"referral-signing", hashlib.sha256)
    return {DEV_KID: derived.hexdigest()}, DEV_KID


def _signature(secret: str, kid: str, ref: str) -> str:
    message = _CONTEXT + b"|" + kid.encode() + b"|" + ref.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()[:SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_token(ref: str, keys: dict[str, str], kid: str) -> str:
    """Sign ``ref`` with the key ``kid`` and return the token."""
    if not KID_PATTERN.match(kid):
        raise TokenError(f"key id {kid!r} must be 1-16 letters, digits, '-' or '_'")
    if kid not in keys:
        raise TokenError(f"no signing key with id {kid!r}")
    if not REF_PATTERN.match(ref):
        raise TokenError(f"{ref!r} is not a referral reference")
    return f"{kid}.{ref}.{_signature(keys[kid], kid, ref)}"


def verify_token(token: str, keys: dict[str, str]) -> Verification:
    """Check ``token`` against the key its kid names; never raise on bad input."""
    parts = token.split(".")
    if len(parts) != 3:
        return Verification(False, problem="malformed")
    kid, ref, signature = parts
    if not KID_PATTERN.match(kid) or not REF_PATTERN.match(ref):
        return Verification(False, problem="malformed")
    secret = keys.get(kid)
    if secret is None:
        return Verification(False, ref=ref, kid=kid, problem="unknown key")
    if not hmac.compare_digest(signature.encode(), _signature(secret, kid, ref).encode()):
        return Verification(False, ref=ref, kid=kid, problem="bad signature")
    return Verification(True, ref=ref, kid=kid)


def verification_url(base_url: str, token: str) -> str:
    """Return the public verification URL that the slip's QR code carries."""
    return f"{base_url.rstrip('/')}/v/{token}"
