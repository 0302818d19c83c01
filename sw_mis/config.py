"""Configuration: one typed, frozen object built from the environment."""

from __future__ import annotations

import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """The environment describes a configuration sw-mis refuses to run with."""


def _default_database_url(instance_path: Path) -> str:
    return f"sqlite:///{instance_path / 'sw_mis.db'}"


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment, with defaults for the embedded demo."""

    env: str = "development"
    database_url: str = ""
    secret_key: str = ""
    rules_path: Path = PROJECT_ROOT / "rules"
    #: Country packs to load (lower-case codes); empty means every pack under ``rules_path``.
    rule_packs: tuple[str, ...] = ()
    redis_url: str = ""
    referral_signing_keys: dict[str, str] = field(default_factory=dict)
    referral_active_key: str = ""
    referral_expiry_days: int = 90
    public_base_url: str = "http://127.0.0.1:5000"
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_rate_limit: str = "10 per minute"
    max_request_bytes: int = 2 * 1024 * 1024
    statement_timeout_ms: int = 0
    #: Reverse proxies in front of the app (0 = none); their X-Forwarded-* headers are trusted.
    proxy_hops: int = 0
    #: Uploaded import files and job results (default: instance/files).
    files_dir: str = ""
    import_max_bytes: int = 64 * 1024 * 1024

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(
        cls,
        environ: os._Environ[str] | dict[str, str] | None = None,
        instance_path: Path | None = None,
    ) -> Settings:
        """Read ``SW_MIS_*`` variables; refuse a production start without a secret key."""
        env = dict(environ if environ is not None else os.environ)
        instance = instance_path or PROJECT_ROOT / "instance"
        mode = env.get("SW_MIS_ENV", "development").strip().lower()
        if mode not in {"development", "production", "testing"}:
            raise ConfigError(
                f"SW_MIS_ENV must be development, production or testing, not {mode!r}"
            )
        secret = env.get("SW_MIS_SECRET_KEY", "")
        if mode == "production" and len(secret) < 32:
            raise ConfigError(
                "SW_MIS_SECRET_KEY must be set to at least 32 random characters in production"
            )
        keys: dict[str, str] = {}
        for item in filter(None, env.get("SW_MIS_REFERRAL_KEYS", "").split(",")):
            key_id, _, key = item.partition(":")
            if not key_id or not key:
                raise ConfigError("SW_MIS_REFERRAL_KEYS must look like 'kid1:secret1,kid2:secret2'")
            keys[key_id.strip()] = key.strip()
        if mode == "production" and not keys:
            raise ConfigError("SW_MIS_REFERRAL_KEYS must be set in production (slip signing keys)")
        active = env.get("SW_MIS_REFERRAL_ACTIVE_KEY", "") or (next(iter(keys)) if keys else "")
        if keys and active not in keys:
            raise ConfigError(
                f"SW_MIS_REFERRAL_ACTIVE_KEY {active!r} is not in SW_MIS_REFERRAL_KEYS"
            )
        packs = tuple(
            p.strip().lower() for p in env.get("SW_MIS_RULE_PACKS", "").split(",") if p.strip()
        )
        try:
            expiry = int(env.get("SW_MIS_REFERRAL_EXPIRY_DAYS", "90"))
            idle = int(env.get("SW_MIS_SESSION_IDLE_MINUTES", "30"))
            proxy_hops = int(env.get("SW_MIS_PROXY_HOPS", "0"))
            import_max = int(env.get("SW_MIS_IMPORT_MAX_BYTES", str(64 * 1024 * 1024)))
        except ValueError as exc:
            raise ConfigError(f"a numeric SW_MIS_* setting is not a number: {exc}") from exc
        return cls(
            env=mode,
            database_url=env.get("SW_MIS_DATABASE_URL") or _default_database_url(instance),
            # Development gets a fresh random key per process: sessions simply end on restart.
            secret_key=secret or secrets.token_hex(32),
            rules_path=Path(env.get("SW_MIS_RULES_PATH") or PROJECT_ROOT / "rules"),
            rule_packs=packs,
            redis_url=env.get("SW_MIS_REDIS_URL", ""),
            referral_signing_keys=keys,
            referral_active_key=active,
            referral_expiry_days=expiry,
            public_base_url=env.get("SW_MIS_PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
            session_idle_minutes=idle,
            proxy_hops=proxy_hops,
            files_dir=env.get("SW_MIS_FILES_DIR", ""),
            import_max_bytes=import_max,
        )

    def flask_config(self) -> dict[str, object]:
        """Return the Flask config keys derived from these settings."""
        return {
            "SW_MIS": self,
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "TESTING": self.env == "testing",
            "MAX_CONTENT_LENGTH": self.max_request_bytes,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.production,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SECURE": self.production,
            "WTF_CSRF_TIME_LIMIT": self.session_absolute_hours * 3600,
            "BOOTSTRAP_SERVE_LOCAL": True,
            "SW_MIS_FILES_DIR": self.files_dir,
            "SW_MIS_IMPORT_MAX_BYTES": self.import_max_bytes,
            "API_TITLE": "sw-mis",
            "API_VERSION": "v1",
            "OPENAPI_VERSION": "3.0.3",
        }

    def as_dict(self) -> dict[str, object]:
        """Return the settings with secrets masked, for `sw-mis config`."""
        data = asdict(self)
        data["secret_key"] = "***"  # noqa: S105 - a mask, not a password
        data["referral_signing_keys"] = {k: "***" for k in self.referral_signing_keys}
        return data
