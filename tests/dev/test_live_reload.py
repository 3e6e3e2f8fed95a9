"""`make dev`: a change saved in the working tree is served through the nginx edge within
seconds, by the same containers (no rebuild, no recreate), and the production image's guard
does not apply to the development one."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import requests

from tests.support.edge import BASE
from tests.support.imports import import_items, post_import, wait_finished
from tests.support.settings import ROOT
from tests.support.stack import compose, container_id, inspect, wait_for, wait_healthy

# The bound: a saved change is served through the edge within 10 seconds.
SERVED_WITHIN_SECONDS = 10


@contextlib.contextmanager
def edited(relative: str, old: str, new: str) -> Iterator[None]:
    """The working tree's file with OLD replaced by NEW for the block; restored afterwards."""
    path = ROOT / relative
    original = path.read_text()
    assert original.count(old) == 1, f"{relative} no longer holds {old!r} once: update this test"
    path.write_text(original.replace(old, new))
    try:
        yield
    finally:
        path.write_text(original)


def page(http: requests.Session, path: str = "/", status: int = 200) -> str:
    """The body the edge serves at PATH, or "" when it answers another status than STATUS."""
    response = http.get(f"{BASE}{path}", timeout=5)
    return response.text if response.status_code == status else ""


def same_containers() -> dict[str, tuple[str, str]]:
    """(container, image) of the services whose code is the working tree's."""
    return {
        service: (container_id(service), inspect(service)["Image"]) for service in ("app", "worker")
    }


def served_then_restored(
    http: requests.Session,
    relative: str,
    old: str,
    new: str,
    token: str,
    path: str = "/",
    status: int = 200,
):
    before = same_containers()

    def body() -> str:
        return page(http, path, status)

    assert token not in body()
    with edited(relative, old, new):
        wait_for(lambda: token in body(), SERVED_WITHIN_SECONDS, 0.25,
                 f"the edited {relative} served through the edge")  # fmt: skip
    wait_for(lambda: token not in body() and body() != "", SERVED_WITHIN_SECONDS, 0.25,
             f"the restored {relative} served through the edge")  # fmt: skip
    assert same_containers() == before, "the change was served by new containers or images"


def test_a_saved_change_to_a_route_is_served_through_the_edge_without_a_rebuild(http):
    token = f"dev-reload-{uuid.uuid4().hex[:12]}"
    served_then_restored(
        http,
        "app/main/routes.py",
        'version=current_app.config["APP_VERSION"]',
        f'version="{token}"',
        token,
    )


@pytest.mark.parametrize(
    ("relative", "old", "path", "status"),
    [
        # The factory imports it as every worker starts; the 404 body under /api says it.
        ("app/errors.py", '"The requested resource does not exist."', "/api/{random}", 404),
        # app/config.py imports it; the home page shows it.
        ("app/version.py", '__version__ = "1.0.0"', "/", 200),
    ],
)
def test_a_saved_change_to_a_module_imported_at_start_up_is_served_too(
    http, relative, old, path, status
):
    """A reloaded worker is forked from gunicorn's master: it serves a module's new code only
    if the master never imported that module (gunicorn.conf.py imports pyservice/, not the
    app)."""
    token = f"dev-startup-{uuid.uuid4().hex[:12]}"
    new = f'__version__ = "{token}"' if relative == "app/version.py" else f'"{token}"'
    served_then_restored(
        http, relative, old, new, token, path=path.format(random=uuid.uuid4().hex), status=status
    )


def test_a_saved_change_to_a_template_is_served_through_the_edge_without_a_rebuild(http):
    token = f"dev-template-{uuid.uuid4().hex[:12]}"
    served_then_restored(
        http, "app/templates/index.html", "<h1>Flask stack</h1>", f"<h1>{token}</h1>", token
    )


def test_the_worker_restarts_on_a_python_change_and_runs_jobs_again(http):
    """The worker runs the working tree's code: a saved Python file restarts it (its log says
    so), and an import posted afterwards is applied by the restarted worker."""
    token = uuid.uuid4().hex[:12]
    relative = "app/imports/tasks.py"
    line = "from __future__ import annotations"
    with edited(relative, line, f"{line}  # dev-reload-{token}"):

        def restarted() -> bool:
            logs = compose("logs", "--no-color", "--since", "2m", "worker").stdout
            # One line names every file saved since the last restart.
            return any(relative in line and "changed: restarting celery" in line
                       for line in logs.splitlines())  # fmt: skip

        wait_for(restarted, 30, 0.5, "the worker's restart on the change")
    wait_healthy("worker", 120)
    # The app imports the task module too (the imports blueprint registers its tasks), so the
    # edit and its undoing reload the app's workers as well: post once the edge reaches them.
    wait_for(lambda: http.get(f"{BASE}/healthz", timeout=5).status_code == 200, 60, 0.5,
             "the app serving again after its reload")  # fmt: skip
    body = post_import(http, import_items(3, f"dev-{token}"))
    assert body.status_code == 202, body.text
    assert wait_finished(http, body.json()["id"])["status"] == "succeeded"


def make_with_input(target: str, text: str) -> str:
    result = subprocess.run(["make", "-s", target], cwd=ROOT, input=text, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_make_shell_opens_a_flask_shell_in_the_running_app():
    """`flask shell` in the app container: the app's config and its database at hand. (The
    shell's own app has debug off: the flask command sets it from FLASK_DEBUG.)"""
    out = make_with_input(
        "shell",
        "import sqlalchemy as sa; from app.extensions import db\n"
        "answer = db.session.execute(sa.text('SELECT 41 + 1')).scalar()\n"
        "print('config:', app.config['NAME'], answer)\n",
    )
    assert "config: development 42" in out


def test_make_psql_opens_psql_on_the_stacks_database():
    out = make_with_input("psql", "SELECT 'migrated:' || count(*) FROM alembic_version;\n")
    assert "migrated:1" in out


def test_the_app_serves_with_debug_on_from_the_development_image(http):
    config = inspect("app")["Config"]
    assert "FLASK_CONFIG=development" in config["Env"]
    # Seen in the serving process's own answer, not in a new one: Flask indents its JSON
    # answers in debug mode alone (the production image's are compact).
    response = http.get(f"{BASE}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.text.startswith('{\n  "'), response.text[:40]
