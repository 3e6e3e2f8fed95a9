"""`make dev` and the production image: debug on only in the development image, whose servers
refuse production's settings; the development overlay publishes on loopback alone; its
reloader restarts a command when a Python file changes."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import app.config as app_config
from app.config import ConfigError, DevelopmentConfig, ProductionConfig, get_config

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / "dev" / "serve.py"
GOOD = {"SECRET_KEY": "k" * 48, "POSTGRES_PASSWORD": "s3cr3t-pw"}


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags (`!override`, `!reset`) read as their plain values."""


for _tag in ("!override", "!reset"):
    ComposeLoader.add_constructor(
        _tag,
        lambda loader, node: (
            loader.construct_sequence(node)
            if isinstance(node, yaml.SequenceNode)
            else loader.construct_mapping(node)
            if isinstance(node, yaml.MappingNode)
            else loader.construct_scalar(node)
        ),
    )


def compose_file(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)


def stages() -> list[tuple[str, str]]:
    """(stage name, its text) of each FROM in the app's Dockerfile, in order."""
    text = (ROOT / "Dockerfile").read_text()
    parts = re.split(r"^FROM ", text, flags=re.M)[1:]
    return [(part.split()[2] if " AS " in part.splitlines()[0] else "", part) for part in parts]


@pytest.fixture
def production_image(tmp_path, monkeypatch) -> Path:
    marker = tmp_path / "production-image"
    marker.write_text("FLASK_CONFIG=production only\n")
    monkeypatch.setattr(app_config, "PRODUCTION_IMAGE_MARKER", marker)
    return marker


@pytest.mark.parametrize("name", ["development", "testing", "DEVELOPMENT"])
def test_the_production_image_refuses_every_config_but_production(production_image, name):
    with pytest.raises(ConfigError, match=f"FLASK_CONFIG={name.lower()} cannot run in the"):
        get_config(environ={"FLASK_CONFIG": name, **GOOD})
    assert isinstance(get_config(environ={"FLASK_CONFIG": "production", **GOOD}), ProductionConfig)
    assert isinstance(get_config(environ=GOOD), ProductionConfig)


def test_without_the_marker_development_loads_with_debug_on(tmp_path, monkeypatch):
    monkeypatch.setattr(app_config, "PRODUCTION_IMAGE_MARKER", tmp_path / "absent")
    config = get_config(environ={"FLASK_CONFIG": "development"})
    assert isinstance(config, DevelopmentConfig)
    assert config.DEBUG is True


def test_the_default_build_is_the_production_stage_and_it_carries_the_marker():
    names = [name for name, _ in stages()]
    assert names[-1] == "runtime", "the last stage (a build with no target) must be production"
    last = stages()[-1][1]
    assert str(app_config.PRODUCTION_IMAGE_MARKER) in last
    assert re.search(r"^USER \$\{APP_UID\}", last, flags=re.M), "production must not run as root"
    dev = dict(stages())["dev"]
    assert str(app_config.PRODUCTION_IMAGE_MARKER) not in dev
    assert "dev/" in dev
    runtime_from = last.splitlines()[0].split()[0]
    assert runtime_from == "app-base", "production must not build on the dev stage"
    # compose.yaml (`make up`, `make deploy`) builds without a target: the last stage.
    assert "target" not in compose_file("compose.yaml")["services"]["app"]["build"]
    assert compose_file("compose.dev.yaml")["services"]["app"]["build"]["target"] == "dev"


def test_the_development_overlay_publishes_on_loopback_alone():
    base = compose_file("compose.yaml")["services"]
    dev = compose_file("compose.dev.yaml")["services"]
    published = [name for name, service in base.items() if service.get("ports")]
    assert published, "compose.yaml publishes nothing?"
    for name in published:
        ports = dev[name].get("ports")
        assert ports, f"compose.dev.yaml must override {name}'s ports"
        assert len(ports) == len(base[name]["ports"])
        assert all(port.startswith("127.0.0.1:") for port in ports), ports
    assert "!override" in (ROOT / "compose.dev.yaml").read_text()


def test_the_development_overlay_runs_the_working_tree_in_the_development_image():
    dev = compose_file("compose.dev.yaml")["services"]
    for name in ("app", "worker", "scheduler", "migrate"):
        assert dev[name]["image"].endswith("/app:dev"), name
        [mount] = dev[name]["volumes"]
        assert (mount["source"], mount["target"], mount["read_only"]) == ("./app", "/app/app", True)
    assert dev["app"]["command"] == ["python", "dev/serve.py", "app"]
    base = compose_file("compose.yaml")["services"]
    for name in ("worker", "scheduler"):
        # The reloader runs compose.yaml's own command: the two cannot drift apart.
        assert dev[name]["entrypoint"] == ["python", "dev/serve.py", "restart", "--"], name
        assert "command" not in dev[name] and base[name]["command"][0] == "celery", name


@pytest.mark.parametrize("flask_config", ["production", "testing", "", "Production"])
def test_the_development_servers_refuse_any_config_but_development(flask_config):
    env = {**os.environ, "FLASK_CONFIG": flask_config}
    result = subprocess.run(
        [sys.executable, str(SERVE), "restart", "--", sys.executable, "-c", "print('ran')"],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 78
    assert "ran" not in result.stdout
    assert result.stderr.startswith("configuration error: dev/serve.py runs with FLASK_CONFIG=")


class Reloader:
    """dev/serve.py's restart_on_change over a tree in TMP_PATH, polling every 0.1 s, running a
    child that appends "start" to a file when it starts and runs STOPPING when it gets SIGTERM."""

    def __init__(self, tmp_path: Path, stopping: str = "sys.exit(143)") -> None:
        self.watched = tmp_path / "app"
        self.watched.mkdir()
        self.starts, self.stops = tmp_path / "starts", tmp_path / "stops"
        child = (
            f"import signal, sys, time; open({str(self.starts)!r}, 'a').write('start\\n')\n"
            f"def stop(*_):\n    open({str(self.stops)!r}, 'a').write('stop\\n'); {stopping}\n"
            "signal.signal(signal.SIGTERM, stop); time.sleep(60)"
        )
        runner = (
            "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import serve; "
            "sys.exit(serve.restart_on_change([sys.executable, '-c', sys.argv[3]], "
            "Path(sys.argv[2]), 0.1))"
        )
        self.output = ""
        self.process = subprocess.Popen(
            [sys.executable, "-c", runner, str(SERVE.parent), str(self.watched), child],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    @staticmethod
    def count(path: Path) -> int:
        return path.read_text().count("\n") if path.exists() else 0

    def wait(self, path: Path, expected: int) -> None:
        deadline = time.monotonic() + 20
        while self.count(path) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.count(path) == expected

    def wait_at_least(self, path: Path, expected: int) -> None:
        deadline = time.monotonic() + 20
        while self.count(path) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.count(path) >= expected

    def wait_for_output(self, text: str) -> None:
        """Until the reloader prints TEXT (its output so far is kept for end())."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + 20
        while text not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:  # the raw descriptor: the text wrapper would hold lines back unseen
                self.output += os.read(self.process.stdout.fileno(), 65536).decode()
        assert text in self.output, self.output

    def end(self) -> str:
        """Stop the reloader; its output. SIGTERM is passed on: the child ends by it and the
        reloader returns its code."""
        self.process.terminate()
        output, _ = self.process.communicate(timeout=40)
        output = self.output + output
        assert self.process.returncode == 128 + 15, output
        return output


def test_the_reloader_restarts_the_command_when_a_python_file_changes(tmp_path):
    reloader = Reloader(tmp_path)
    module = reloader.watched / "module.py"
    module.write_text("VALUE = 1\n")
    (reloader.watched / "notes.txt").write_text("not Python\n")
    try:
        reloader.wait(reloader.starts, 1)
        (reloader.watched / "notes.txt").write_text("changed, but not Python\n")
        time.sleep(0.5)
        assert reloader.count(reloader.starts) == 1, "a non-Python file restarted the command"
        module.write_text("VALUE = 2\n")
        reloader.wait(reloader.starts, 2)
        (reloader.watched / "new.py").write_text("")
        reloader.wait(reloader.starts, 3)
    finally:
        output = reloader.end()
    assert "module.py changed: restarting" in output


def test_a_file_saved_while_the_command_stops_restarts_it_once_more_and_is_named(tmp_path):
    """A Celery worker takes seconds to stop: a change saved meanwhile is not lost."""
    reloader = Reloader(tmp_path, stopping="time.sleep(1); sys.exit(143)")
    (reloader.watched / "first.py").write_text("")
    try:
        reloader.wait(reloader.starts, 1)
        (reloader.watched / "first.py").write_text("VALUE = 1\n")
        reloader.wait(reloader.stops, 1)  # the child is stopping, slowly
        (reloader.watched / "second.py").write_text("")
        # The command starts again; the start in between may be stopped before it writes its
        # line (on a busy machine the reloader sees second.py first): the output says it all.
        reloader.wait_for_output("second.py changed: restarting")
        reloader.wait_at_least(reloader.starts, 2)
    finally:
        output = reloader.end()
    assert "first.py changed: restarting" in output
    assert "second.py changed: restarting" in output
