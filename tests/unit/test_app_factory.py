"""The app factories (app/factory.py, handed out by app/__init__.py): how the config is chosen,
what production forces, static files, the log level, the migrations, the asset manifest, the
order of JSON fields and the proxy counts that shape public URLs; and that the package imports
none of it until a factory is asked for."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app import MIGRATIONS_DIR, create_app, create_database_app, extensions, factory
from app.config import ConfigError
from app.extensions import db
from tests.unit.conftest import ItemFactory, build_app
from tests.unit.test_config import SECRETS

pytestmark = pytest.mark.unit


@pytest.fixture
def bare_environ(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An environment without any of the stack's settings (make exports .env to its commands)."""
    environ = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    monkeypatch.setattr(os, "environ", environ)
    return environ


@pytest.fixture
def root_level() -> Iterator[None]:
    """Restore the root logger's level, which the factories set."""
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


@pytest.mark.usefixtures("bare_environ")
def test_testing_true_alone_selects_the_testing_config() -> None:
    app = create_app({"TESTING": True})
    assert app.config["NAME"] == "testing"
    assert "FLASK_CONFIG" not in app.config
    # A named config wins over TESTING.
    named = create_app({"FLASK_CONFIG": "development", "TESTING": True})
    assert named.config["NAME"] == "development"


def test_production_forces_debug_and_testing_off_whatever_the_overrides(
    bare_environ: dict[str, str],
) -> None:
    bare_environ.update(SECRETS)
    app = create_app({"FLASK_CONFIG": "production", "DEBUG": True, "TESTING": True})
    assert app.config["NAME"] == "production"
    assert app.config["DEBUG"] is False
    assert app.config["TESTING"] is False
    development = create_app({"FLASK_CONFIG": "development"})
    assert development.config["DEBUG"] is True


def test_static_files_are_served_only_where_asked(tmp_path: Path) -> None:
    served = create_app({"FLASK_CONFIG": "testing"}).test_client()
    assert served.get("/static/css/site.css").status_code == 200
    not_served = create_app({"FLASK_CONFIG": "testing", "SERVE_STATIC": False}).test_client()
    assert not_served.get("/static/css/site.css").status_code == 404


@pytest.mark.usefixtures("root_level")
def test_a_log_level_override_applies_to_the_root_logger() -> None:
    create_app({"FLASK_CONFIG": "testing", "LOG_LEVEL": "ERROR"})
    assert logging.getLogger().level == logging.ERROR
    create_database_app({"FLASK_CONFIG": "testing", "LOG_LEVEL": "WARNING"})
    assert logging.getLogger().level == logging.WARNING


@pytest.mark.usefixtures("bare_environ")
def test_the_database_app_takes_its_config_name_from_the_overrides() -> None:
    app = create_database_app({"FLASK_CONFIG": "testing"})
    assert app.config["NAME"] == "testing"
    assert "FLASK_CONFIG" not in app.config
    with pytest.raises(ConfigError, match="POSTGRES_PASSWORD is missing"):
        create_database_app({"FLASK_CONFIG": None})


def test_the_database_app_finds_the_packaged_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in a fresh process (the migration job): the shared Migrate object was never bound.
    monkeypatch.setattr(extensions.migrate, "db", None)
    monkeypatch.setattr(extensions.migrate, "directory", "migrations")
    app = create_database_app({"FLASK_CONFIG": "testing"})
    migrate = app.extensions["migrate"]
    assert migrate.directory == str(MIGRATIONS_DIR)
    assert migrate.db is db
    assert (MIGRATIONS_DIR / "env.py").is_file()


def test_json_keeps_the_order_of_the_fields(client: FlaskClient, make_item: ItemFactory) -> None:
    item = make_item()
    text = client.get(f"/api/items/{item['id']}").get_data(as_text=True)
    keys = list(json.loads(text))
    assert keys == ["id", "name", "description", "created_at", "updated_at"]
    assert text.index('"name"') < text.index('"description"')


def test_the_manifest_beside_the_package_is_used_unless_another_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "package"
    (package / "static").mkdir(parents=True)
    (package / "static" / "manifest.json").write_text('{"css/site.css": "css/site.packaged.css"}')
    named = tmp_path / "named.json"
    named.write_text('{"css/site.css": "css/site.named.css"}')
    monkeypatch.setattr(factory, "PACKAGE_DIR", package)

    def stylesheet(**overrides: str) -> str:
        app = create_app({"FLASK_CONFIG": "testing", **overrides})
        with app.app_context():
            url: str = app.jinja_env.globals["asset_url"]("css/site.css")  # type: ignore[operator]
        return url

    assert stylesheet() == "/static/css/site.packaged.css"
    assert stylesheet(ASSET_MANIFEST=str(named)) == "/static/css/site.named.css"
    (package / "static" / "manifest.json").unlink()
    assert stylesheet() == "/static/css/site.css"


@pytest.mark.usefixtures("database")
def test_the_proxy_counts_come_from_the_config(caplog: pytest.LogCaptureFixture) -> None:
    counts = {"for": 2, "proto": 2, "host": 1, "port": 1, "prefix": 1}
    client = build_app(PROXY_FIX=counts).test_client()
    caplog.set_level(logging.INFO, logger="app.access")
    headers = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https, http"}
    response = client.post("/api/items", json={"name": "Two proxies"}, headers=headers)
    assert response.headers["Location"].startswith("https://")
    [access] = [r for r in caplog.records if r.name == "app.access"]
    assert access.remote_addr == "198.51.100.7"  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", ["app", "app.config", "app.jobs.healthcheck"])
def test_a_module_of_the_package_is_imported_without_flask_or_the_factory(module: str) -> None:
    """gunicorn's settings and the job services' healthchecks (run every few seconds) import
    one module: the package hands out the factory only when it is asked for."""
    code = f"import sys, {module}; print(sorted({{'flask', 'app.factory'}} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2], check=True)  # fmt: skip
    assert result.stdout.strip() == "[]"
