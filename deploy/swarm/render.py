#!/usr/bin/env python3
"""Render the Swarm stack from the Compose definition, so the services are written once.

Reads the output of ``docker compose -f compose.yaml -f deploy/swarm/compose.swarm.yaml config
--format json`` on stdin (compose.yaml plus what Swarm needs on top, with .env and images.env
applied) and writes a stack file for ``docker stack deploy`` on stdout, as JSON (which is YAML).
What changes, each forced by Swarm:

- images, not builds: ``--retag OLD=NEW`` points the built images at their per-build tags, so
  a new build is a new service spec that Swarm rolls out; ``--image SERVICE=IMAGE`` pins one
  service (deploy/swarm/up.sh runs the migrations with the new image before the app moves);
- restart policies, CPU and memory limits and tmpfs mounts move under ``deploy`` and
  ``volumes``;
  ``depends_on``, ``security_opt``, ``pids_limit`` and ``network_mode`` have no Swarm form;
- every service uses ``endpoint_mode: dnsrr``: nginx resolves the app per request anyway;
- published ports use host mode (no routing mesh); Swarm cannot bind them to one address;
- secrets are Swarm secrets owned by the service's user (mode 0400), and secrets and configs
  are named by their content, since Swarm cannot change one in place;
- networks are overlays; one-shot services (``restart: "no"``) run once per spec.

Only the standard library: ``make swarm-up`` runs it with the system Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

# Keys a Swarm service does not take, or takes in another place (handled below).
DROPPED = frozenset(
    {
        "build",
        "depends_on",
        "security_opt",
        "pids_limit",
        "network_mode",
        "restart",
        "mem_limit",
        "mem_reservation",
        "cpus",
        "tmpfs",
        "shm_size",
        "profiles",
        "container_name",
        "env_file",
        "pull_policy",
        "dns_opt",
    }
)
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class RenderError(Exception):
    """A Compose setting with no Swarm equivalent: one line saying which."""


def content_name(name: str, path: str) -> str:
    """A secret's or config's Swarm name, changing whenever the file's content does."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
    return f"{name}-{digest}"


def tmpfs_volume(spec: str) -> dict[str, Any]:
    """`/tmp:size=16m,uid=101,mode=0700` as a Swarm tmpfs mount (Swarm sets no owner: the
    mount keeps tmpfs's default mode, writable by every user with the sticky bit)."""
    target, _, options = spec.partition(":")
    mount: dict[str, Any] = {"type": "tmpfs", "target": target}
    for option in filter(None, options.split(",")):
        key, _, value = option.partition("=")
        if key == "size":
            match = re.fullmatch(r"(\d+)([kmg]?)", value.lower())
            if not match:
                raise RenderError(f"tmpfs {target}: size {value!r} is not a size")
            mount["tmpfs"] = {"size": int(match[1]) * SIZE_UNITS[match[2]]}
    return mount


def user_ids(service: str, spec: dict[str, Any]) -> tuple[str, str]:
    user = str(spec.get("user") or "")
    uid, _, gid = user.partition(":")
    if not uid.isdigit():
        raise RenderError(f"{service}: a numeric `user` is needed to own its secrets in Swarm")
    return uid, gid if gid.isdigit() else uid


def render_service(
    name: str, spec: dict[str, Any], images: dict[str, str], retag: dict[str, str]
) -> dict[str, Any]:
    out = {
        key: value
        for key, value in spec.items()
        if key not in DROPPED and not key.startswith("x-") and value is not None
    }
    out["image"] = images.get(name) or retag.get(spec["image"], spec["image"])
    deploy = out.setdefault("deploy", {})
    deploy.setdefault("endpoint_mode", "dnsrr")
    if spec.get("restart") == "no":
        deploy.setdefault("restart_policy", {"condition": "none"})
    else:
        deploy.setdefault("restart_policy", {"condition": "any", "delay": "2s"})
    resources = deploy.setdefault("resources", {})
    if spec.get("mem_limit"):
        resources.setdefault("limits", {})["memory"] = str(spec["mem_limit"])
    if spec.get("cpus"):
        resources.setdefault("limits", {})["cpus"] = str(spec["cpus"])
    if spec.get("mem_reservation"):
        resources.setdefault("reservations", {})["memory"] = str(spec["mem_reservation"])
    volumes = list(spec.get("volumes") or [])
    volumes += [tmpfs_volume(entry) for entry in spec.get("tmpfs") or []]
    for volume in volumes:
        volume.pop("bind", None)  # create_host_path: Swarm never creates host paths
    if volumes:
        out["volumes"] = volumes
    if spec.get("secrets"):
        uid, gid = user_ids(name, spec)
        out["secrets"] = [
            {
                "source": secret["source"],
                "target": Path(secret.get("target") or secret["source"]).name,
                "uid": uid,
                "gid": gid,
                "mode": 0o400,
            }
            for secret in spec["secrets"]
        ]
    if spec.get("ports"):
        out["ports"] = [
            {
                "target": port["target"],
                "published": int(port["published"]),
                "protocol": port["protocol"],
                "mode": "host",
            }
            for port in spec["ports"]
        ]
    if spec.get("network_mode") == "none":
        out["networks"] = {}
    return out


def render(config: dict[str, Any], images: dict[str, str], retag: dict[str, str]) -> dict[str, Any]:
    services = {
        name: render_service(name, spec, images, retag) for name, spec in config["services"].items()
    }
    stack: dict[str, Any] = {"version": "3.8", "services": services}
    stack["secrets"] = {
        name: {"name": content_name(name, s["file"]), "file": s["file"]}
        for name, s in (config.get("secrets") or {}).items()
    }
    stack["configs"] = {
        name: {"name": content_name(name, c["file"]), "file": c["file"]}
        for name, c in (config.get("configs") or {}).items()
    }
    stack["volumes"] = {name: {} for name in config.get("volumes") or {}}
    stack["networks"] = {
        name: {"driver": "overlay", **({"internal": True} if n.get("internal") else {})}
        for name, n in (config.get("networks") or {}).items()
    }
    return stack


def pairs(values: list[str], option: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, image = value.partition("=")
        if not sep or not key or not image:
            raise RenderError(f"{option} takes KEY=IMAGE, got {value!r}")
        out[key] = image
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="append", default=[], metavar="SERVICE=IMAGE")
    parser.add_argument("--retag", action="append", default=[], metavar="OLD=NEW")
    args = parser.parse_args(argv)
    try:
        config = json.load(sys.stdin)
        stack = render(config, pairs(args.image, "--image"), pairs(args.retag, "--retag"))
    except (RenderError, ValueError, KeyError, OSError) as error:
        print(f"render: {error}", file=sys.stderr)
        return 1
    json.dump(stack, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
