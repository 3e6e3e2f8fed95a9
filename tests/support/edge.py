"""HTTP clients for the stack's published HTTPS edge (the only way the tests send requests)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .settings import CERT_DIR, HTTP_PORT, HTTPS_PORT

HOST = "localhost"
BASE = f"https://{HOST}:{HTTPS_PORT}"
HTTP_BASE = f"http://{HOST}:{HTTP_PORT}"
CA_FILE = str(CERT_DIR / "fullchain.pem")


def new_session(retry_on_429: bool = True) -> requests.Session:
    """A client that trusts the stack's certificate; by default it honours 429 Retry-After
    the way a well-behaved API client does, so tests stay within the edge's rate limit."""
    session = requests.Session()
    # Ignore REQUESTS_CA_BUNDLE and proxy variables: they would override `verify` per request.
    session.trust_env = False
    session.verify = CA_FILE
    if retry_on_429:
        retry = Retry(
            total=8, connect=0, read=0, status=8, status_forcelist=[429], allowed_methods=None,
            respect_retry_after_header=True, raise_on_status=False,
        )  # fmt: skip
        session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def exit_unless_reachable(how_to_start: str) -> None:
    """End the whole run at once, with a one-line hint, when the stack is not up."""
    hint = f"run {how_to_start} first (or `make test`, which starts it)"
    if not Path(CA_FILE).is_file():
        pytest.exit(f"no stack here: {CA_FILE} does not exist; {hint}", 2)
    try:
        requests.get(f"{BASE}/healthz", verify=CA_FILE, timeout=5)
    except (requests.RequestException, OSError) as error:
        pytest.exit(f"nothing answers at {BASE} ({type(error).__name__}); {hint}", 2)
