"""The application factory: configuration, extensions, blueprints, CLI and error handlers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine

from sw_mis import db
from sw_mis.config import PROJECT_ROOT, Settings

TEMPLATES = PROJECT_ROOT / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def create_app(
    settings: Settings | dict[str, Any] | None = None, engine: Engine | None = None
) -> Flask:
    """Build the sw-mis Flask app from ``settings`` (default: the environment)."""
    app = Flask(
        "sw_mis",
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    if settings is None:
        settings = Settings.from_env(instance_path=Path(app.instance_path))
    elif isinstance(settings, dict):
        settings = Settings.from_env(settings, instance_path=Path(app.instance_path))
    app.config.update(settings.flask_config())
    if settings.database_url.startswith("sqlite:///") and engine is None:
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )

    db.init_app(app, engine)
    if settings.proxy_hops:
        # Behind a reverse proxy the client's address (for logs and rate limits) and the
        # scheme come from X-Forwarded-*; trust exactly as many hops as are configured.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from sw_mis.web import setup as web_setup

    web_setup.init_app(app)
    return app
