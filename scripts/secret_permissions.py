#!/usr/bin/env python3
"""Make each secret file readable by the services that mount it and by no one else.

Compose mounts file secrets with the host file's owner and mode, so the owner and mode on the
host are what the containers see. For each secret in the resolved Compose configuration (every
profile), the services that mount it name their users: one user owns the file (mode 0400); a
second user, when there is one, is its group (mode 0440). The TLS key goes to nginx's user the
same way. Needs root to change owners (first-run.sh runs it as root, or in a container).

    python3 scripts/secret_permissions.py CONFIG_JSON [ROOT]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


class PermissionsError(Exception):
    """A secret whose readers cannot be expressed as one owner and one group."""


def user_ids(service: str, spec: dict[str, Any]) -> tuple[int, int]:
    user = str(spec.get("user") or "")
    uid, _, gid = user.partition(":")
    if not uid.isdigit():
        raise PermissionsError(f"{service} mounts secrets but has no numeric `user`")
    return int(uid), int(gid) if gid.isdigit() else int(uid)


def plan(config: dict[str, Any]) -> dict[Path, tuple[int, int, int]]:
    """file -> (owner uid, group gid, mode) for every secret file and the TLS key."""
    readers: dict[str, list[tuple[int, int]]] = {}
    for service, spec in sorted(config["services"].items()):
        for secret in spec.get("secrets") or []:
            ids = user_ids(service, spec)
            if ids not in readers.setdefault(secret["source"], []):
                readers[secret["source"]].append(ids)
    result = {}
    for name, ids in readers.items():
        path = Path(config["secrets"][name]["file"])
        uids = sorted({uid for uid, _ in ids})
        if len(uids) == 1:
            result[path] = (uids[0], ids[0][1], 0o400)
        elif len(uids) == 2:
            group = next(gid for uid, gid in ids if uid == uids[1])
            result[path] = (uids[0], group, 0o440)
        else:
            raise PermissionsError(f"secret {name} has more than two readers: {uids}")
    nginx = config["services"]["nginx"]
    for volume in nginx.get("volumes") or []:
        if volume.get("target", "").endswith("/privkey.pem"):
            uid, gid = user_ids("nginx", nginx)
            result[Path(volume["source"])] = (uid, gid, 0o400)
    return result


def apply(files: dict[Path, tuple[int, int, int]], secrets_dir: Path) -> None:
    for path, (uid, gid, mode) in sorted(files.items()):
        if path.is_file():
            os.chown(path, uid, gid)
            os.chmod(path, mode)
    # Files in the secrets directory that no service mounts (left by an older layout, or the
    # user's own) are closed to everyone else too.
    for path in secrets_dir.iterdir():
        if path.is_file() and path not in files:
            os.chmod(path, path.stat().st_mode & 0o700)


def main(argv: list[str]) -> int:
    try:
        config = json.loads(Path(argv[0]).read_text())
        secrets_dir = Path(config["secrets"]["secret_key"]["file"]).parent
        apply(plan(config), secrets_dir)
    except (IndexError, OSError, ValueError, KeyError, PermissionsError) as error:
        print(f"secret permissions: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
