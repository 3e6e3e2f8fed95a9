#!/usr/bin/env python3
"""Pin the default images in compose.yaml to their digests: `make pin-images`.

Each default written as ``${NAME_IMAGE:-repository:tag}`` (or already ``...:tag@sha256:...``)
becomes ``repository:tag@sha256:<digest>``, the digest being what the image's registry serves
for the tag now (the multi-platform index where there is one). The tag stays for people to
read; Docker pulls by the digest, so a re-pushed tag cannot change what runs. Run it again to
move to newer builds of the same tags, or after changing a tag; review the diff and commit it.

Asks each registry over its HTTP API (anonymous pull tokens, as `docker pull` does). Where no
registry answers, nothing is changed and it exits 1, naming what it could not resolve.
Only the standard library.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"
DEFAULT = re.compile(r"\$\{([A-Z0-9_]+_IMAGE):-([^}@\s]+)(@sha256:[0-9a-f]{64})?\}")
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


class ResolveError(Exception):
    pass


def split(reference: str) -> tuple[str, str, str]:
    """`repository:tag` as (registry host, repository path, tag), Docker Hub's rules applied."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        raise ResolveError(f"{reference}: no tag")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag
    return "registry-1.docker.io", name if rest else f"library/{name}", tag


def _request(url: str, token: str | None = None) -> urllib.request.Request:
    headers = {"Accept": ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return urllib.request.Request(url, headers=headers, method="HEAD")


def _token(challenge: str) -> str:
    """An anonymous token for a `Bearer realm=...,service=...,scope=...` challenge."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    if "realm" not in fields:
        raise ResolveError(f"unexpected challenge {challenge!r}")
    query = urllib.parse.urlencode({k: v for k, v in fields.items() if k != "realm"})
    with urllib.request.urlopen(f"{fields['realm']}?{query}", timeout=20) as response:
        body = json.load(response)
    return str(body.get("token") or body["access_token"])


def resolve(reference: str) -> str:
    """The digest the registry serves for REFERENCE's tag now."""
    host, repository, tag = split(reference)
    url = f"https://{host}/v2/{repository}/manifests/{tag}"
    try:
        try:
            response = urllib.request.urlopen(_request(url), timeout=20)
        except urllib.error.HTTPError as error:
            if error.code != 401:
                raise
            token = _token(error.headers.get("WWW-Authenticate", ""))
            response = urllib.request.urlopen(_request(url, token), timeout=20)
        with response:
            digest = response.headers.get("Docker-Content-Digest", "")
    except (urllib.error.URLError, OSError, KeyError, ValueError) as error:
        raise ResolveError(f"{reference}: {getattr(error, 'reason', error)}") from None
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ResolveError(f"{reference}: the registry sent no digest")
    return digest


def pin(text: str, resolver: Callable[[str], str]) -> tuple[str, list[str]]:
    """TEXT with every image default pinned, and the references that could not be resolved
    (left as they were)."""
    failures: list[str] = []

    def replace(match: re.Match[str]) -> str:
        variable, reference = match[1], match[2]
        try:
            return f"${{{variable}:-{reference}@{resolver(reference)}}}"
        except ResolveError as error:
            failures.append(str(error))
            return match[0]

    return DEFAULT.sub(replace, text), failures


def main() -> int:
    text = COMPOSE.read_text()
    pinned, failures = pin(text, resolve)
    if failures:
        print("pin-images: no digest for:\n  " + "\n  ".join(failures), file=sys.stderr)
        print("pin-images: compose.yaml is unchanged", file=sys.stderr)
        return 1
    if pinned != text:
        COMPOSE.write_text(pinned)
    print(f"pin-images: {len(DEFAULT.findall(pinned))} images pinned in {COMPOSE.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
