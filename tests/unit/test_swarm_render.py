"""deploy/swarm/render.py: the Swarm stack is compose.yaml's services, turned into Swarm's form."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "deploy" / "swarm" / "render.py"
_spec = importlib.util.spec_from_file_location("swarm_render", RENDER)
assert _spec and _spec.loader
render_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render_module)


def config(tmp_path: Path, secret: str = "s3cret") -> dict[str, Any]:
    """A small `docker compose config --format json` output of the shape the stack produces."""
    (tmp_path / "secret").write_text(secret)
    (tmp_path / "rules.yml").write_text("groups: []\n")
    return {
        "name": "flask-stack",
        "services": {
            "app": {
                "build": {"context": "."},
                "image": "flask-stack/app:local",
                "user": "10001:10001",
                "restart": "unless-stopped",
                "mem_limit": "536870912",
                "pids_limit": 256,
                "security_opt": ["no-new-privileges:true"],
                "depends_on": {"migrate": {"condition": "service_completed_successfully"}},
                "tmpfs": ["/tmp:size=64m,uid=10001,gid=10001,mode=0700"],
                "secrets": [{"source": "db", "target": "/run/secrets/db"}],
                "command": None,
                "networks": {"edge": {"aliases": ["app-blue"]}, "backend": {}},
            },
            "migrate": {
                "image": "flask-stack/app:local",
                "user": "10001:10001",
                "restart": "no",
                "network_mode": "none",
            },
            "nginx": {
                "image": "flask-stack/nginx:local",
                "user": "101:101",
                "restart": "unless-stopped",
                "ports": [
                    {
                        "mode": "ingress",
                        "host_ip": "127.0.0.1",
                        "target": 8443,
                        "published": "8443",
                        "protocol": "tcp",
                    },
                ],
                "configs": [{"source": "rules", "target": "/etc/rules.yml"}],
            },
        },
        "secrets": {"db": {"file": str(tmp_path / "secret")}},
        "configs": {"rules": {"file": str(tmp_path / "rules.yml")}},
        "volumes": {"data": {"name": "flask-stack_data"}},
        "networks": {"edge": {"name": "flask-stack_edge"}, "backend": {"internal": True}},
    }


def test_built_images_become_per_build_tags_and_one_service_can_be_pinned(tmp_path: Path):
    retag = {"flask-stack/app:local": "flask-stack/app:build-abc"}
    stack = render_module.render(config(tmp_path), {"app": "flask-stack/app:build-old"}, retag)
    assert stack["services"]["app"]["image"] == "flask-stack/app:build-old"
    assert stack["services"]["migrate"]["image"] == "flask-stack/app:build-abc"
    assert stack["services"]["nginx"]["image"] == "flask-stack/nginx:local"


def test_compose_only_keys_move_or_go(tmp_path: Path):
    app = render_module.render(config(tmp_path), {}, {})["services"]["app"]
    for key in ("build", "depends_on", "security_opt", "pids_limit", "mem_limit", "tmpfs"):
        assert key not in app, key
    assert "command" not in app, "a null command is not a Swarm command"
    assert app["deploy"]["resources"]["limits"]["memory"] == "536870912"
    assert app["deploy"]["restart_policy"]["condition"] == "any"
    assert app["deploy"]["endpoint_mode"] == "dnsrr"
    assert app["volumes"] == [{"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 << 20}}]
    assert app["networks"]["edge"] == {"aliases": ["app-blue"]}


def test_one_shots_run_once_and_have_no_network_mode(tmp_path: Path):
    migrate = render_module.render(config(tmp_path), {}, {})["services"]["migrate"]
    assert migrate["deploy"]["restart_policy"] == {"condition": "none"}
    assert "network_mode" not in migrate


def test_secrets_are_owned_by_the_service_user_and_named_by_content(tmp_path: Path):
    stack = render_module.render(config(tmp_path), {}, {})
    assert stack["services"]["app"]["secrets"] == [
        {"source": "db", "target": "db", "uid": "10001", "gid": "10001", "mode": 0o400}
    ]
    name = stack["secrets"]["db"]["name"]
    again = render_module.render(config(tmp_path), {}, {})["secrets"]["db"]["name"]
    changed = render_module.render(config(tmp_path, "other"), {}, {})["secrets"]["db"]["name"]
    assert name == again != changed and name.startswith("db-")
    assert stack["configs"]["rules"]["name"].startswith("rules-")


def test_ports_are_published_in_host_mode_and_networks_are_overlays(tmp_path: Path):
    stack = render_module.render(config(tmp_path), {}, {})
    assert stack["services"]["nginx"]["ports"] == [
        {"target": 8443, "published": 8443, "protocol": "tcp", "mode": "host"}
    ]
    assert stack["networks"] == {
        "edge": {"driver": "overlay"},
        "backend": {"driver": "overlay", "internal": True},
    }
    assert stack["volumes"] == {"data": {}}


def test_a_service_with_secrets_needs_a_numeric_user(tmp_path: Path):
    broken = config(tmp_path)
    broken["services"]["app"]["user"] = "app"
    with pytest.raises(render_module.RenderError, match="numeric `user`"):
        render_module.render(broken, {}, {})


def test_the_script_reads_stdin_and_says_in_one_line_what_is_wrong(tmp_path: Path):
    good = subprocess.run(
        [sys.executable, str(RENDER), "--retag", "flask-stack/app:local=flask-stack/app:b1"],
        input=json.dumps(config(tmp_path)), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["services"]["migrate"]["image"] == "flask-stack/app:b1"
    bad = subprocess.run(
        [sys.executable, str(RENDER), "--image", "app"], input="{}",
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and bad.stderr.startswith("render: --image takes KEY=IMAGE")
