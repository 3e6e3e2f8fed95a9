"""The Flask application factories: ``create_app()`` for gunicorn and the job worker,
``create_database_app()`` for the migration job, which needs the database alone, and
``create_jobs_app()`` for the job scheduler, which needs the broker and the blueprints' jobs.
The package (app/__init__.py) hands them out, importing this module when one is first asked
for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.assets import load_manifest, make_asset_url
from app.caching import init_cache_store
from app.config import Config, ConfigError, get_config
from app.errors import register_error_handlers
from app.extensions import cache, db, metrics, migrate
from app.jobs import init_jobs
from app.logs import configure_logging
from app.paths import MIGRATIONS_DIR, PACKAGE_DIR
from app.proxy import ProxyGate, TrustedProxies
from app.request_log import register_request_logging
from app.sentry import init_sentry
from app.sessions import CachedSerializerSessionInterface

__all__ = ["ConfigError", "create_app", "create_database_app", "create_jobs_app"]


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from FLASK_CONFIG (or ``overrides["FLASK_CONFIG"]``) plus OVERRIDES.

    ``{"TESTING": True}`` alone selects the testing config.
    """
    settings = dict(overrides or {})
    name = settings.pop("FLASK_CONFIG", None)
    if name is None and settings.get("TESTING"):
        name = "testing"
    config = get_config(name)
    serve_static = settings.get("SERVE_STATIC", config.SERVE_STATIC)
    app = _new_app(config, settings, static_folder="static" if serve_static else None)

    _bind_database(app)
    cache.init_app(app)
    init_cache_store(app)
    with app.app_context():
        engine = db.engine  # created here, connects only when first used
    metrics.init_app(app, engine)
    init_jobs(app)
    _register_blueprints(app)
    _register_asset_url(app)
    _guard_proxies(app)
    register_request_logging(app)
    register_error_handlers(app)
    init_sentry(app)
    return app


def create_database_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """An app with the database and the migrations alone: no secret key, cache or metrics."""
    settings = dict(overrides or {})
    config = get_config(settings.pop("FLASK_CONFIG", None), database_only=True)
    return _bind_database(_new_app(config, settings, static_folder=None))


def create_jobs_app(config: Config | None = None) -> Flask:
    """An app with the broker's settings (CONFIG, else the environment's) and the jobs its
    blueprints declare (app/jobs/__init__.py): no database, secret key or cache, and never
    serving a request."""
    config = config or get_config(jobs_only=True)
    app = _new_app(config, {}, static_folder=None)
    init_jobs(app)
    _register_blueprints(app)
    return app


def _new_app(config: Config, settings: dict[str, Any], static_folder: str | None) -> Flask:
    configure_logging(settings.get("LOG_LEVEL", config.LOG_LEVEL))
    app = Flask("app", static_folder=static_folder)
    app.session_interface = CachedSerializerSessionInterface()
    app.config.from_object(config)
    app.config.update(settings)
    if config.NAME == "production":
        app.config.update(DEBUG=False, TESTING=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    return app


def _bind_database(app: Flask) -> Flask:
    # Registers the tables on db.metadata.
    from app.imports import models as import_models  # noqa: F401
    from app.items import models  # noqa: F401
    from app.jobs import runs  # noqa: F401

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    return app


def _register_blueprints(app: Flask) -> None:
    from app.health import bp as health_bp
    from app.imports import bp as imports_bp
    from app.items import bp as items_bp
    from app.main import bp as main_bp
    from app.openapi import bp as openapi_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(items_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(openapi_bp)


def _register_asset_url(app: Flask) -> None:
    """Expose ``asset_url(name)`` to templates, fingerprinted when a manifest lists NAME."""
    manifest_path = app.config.get("ASSET_MANIFEST")
    if manifest_path is None and (PACKAGE_DIR / "static" / "manifest.json").is_file():
        manifest_path = str(PACKAGE_DIR / "static" / "manifest.json")
    app.jinja_env.globals["asset_url"] = make_asset_url(load_manifest(manifest_path))


def _guard_proxies(app: Flask) -> None:
    """Serve only the trusted proxies (TRUSTED_PROXIES) and take the client address, scheme,
    host, port and prefix from their X-Forwarded-* headers (see app/proxy.py)."""
    counts = app.config["PROXY_FIX"]
    names = app.config.get("TRUSTED_PROXIES") or []
    app.wsgi_app = ProxyGate(  # type: ignore[method-assign]
        app.wsgi_app,
        TrustedProxies(names) if names else None,
        x_for=counts["for"],
        x_proto=counts["proto"],
        x_host=counts["host"],
        x_port=counts["port"],
        x_prefix=counts["prefix"],
    )
