"""certbot, run once to obtain or renew the certificate, and what its output says."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable

from .log import log
from .settings import LINEAGE, Settings


def certbot_command(settings: Settings, renew: bool) -> list[str]:
    command = [
        "certbot",
        "certonly",
        "--non-interactive",
        "--agree-tos",
        "--email",
        settings.email,
        "--no-eff-email",
        "--server",
        settings.server,
        "--webroot",
        "--webroot-path",
        str(settings.webroot),
        "--cert-name",
        LINEAGE,
        "--key-type",
        settings.key_type,
        "--config-dir",
        str(settings.config_dir),
        "--work-dir",
        str(settings.state_dir / "work"),
        "--logs-dir",
        str(settings.state_dir / "logs"),
    ]
    for domain in settings.domains:
        command += ["--domain", domain]
    if renew:
        command.append("--force-renewal")
    return command


def certbot_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    if settings.ca_bundle:
        # certbot talks to the CA through requests: this is the trust store it uses.
        env["REQUESTS_CA_BUNDLE"] = settings.ca_bundle
    return env


# certbot's lines that never say what went wrong.
_BOILERPLATE = (
    "Saving debug log",
    "Ask for help",
    "Renewing an existing",
    "Requesting a certificate",
    "Account registered",
    "- - -",
    "Hint:",
    "If you like Certbot",
)


def failure_detail(output: str) -> str:
    """What went wrong, in certbot's words: the CA's details, else its error message."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    details = [line.removeprefix("Detail:").strip() for line in lines if line.startswith("Detail:")]
    if details:
        return "; ".join(details)[:500]
    for index, line in enumerate(lines[:-1]):
        if line.startswith("An unexpected error occurred"):
            return lines[index + 1][:500]
    meaningful = [line for line in lines if not line.startswith(_BOILERPLATE)]
    return (meaningful or lines or ["certbot failed without saying why"])[-1][:500]


def account_lost(output: str) -> bool:
    """Whether the CA says the account certbot used does not exist (a CA that lost its state,
    as a restarted Pebble does, or a deactivated account)."""
    return "accountDoesNotExist" in output or (" not found" in output and "/my-account/" in output)


def forget_account(settings: Settings) -> None:
    """Delete certbot's account for the configured CA, so that the next run registers anew."""
    url = urllib.parse.urlsplit(settings.server)
    shutil.rmtree(settings.config_dir / "accounts" / f"{url.netloc}{url.path}", ignore_errors=True)


Runner = Callable[..., subprocess.CompletedProcess[str]]


def run_certbot(settings: Settings, renew: bool, runner: Runner | None = None) -> tuple[bool, str]:
    """Run certbot once; (succeeded, its output)."""
    settings.webroot.joinpath(".well-known", "acme-challenge").mkdir(parents=True, exist_ok=True)
    try:
        result = (runner or subprocess.run)(
            certbot_command(settings, renew),
            env=certbot_environment(settings),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False, "certbot did not finish within 600 s"
    except OSError as error:
        return False, f"certbot could not be run: {error}"
    return result.returncode == 0, (result.stdout or "") + (result.stderr or "")


def obtain(settings: Settings, renew: bool, runner: Runner | None = None) -> tuple[bool, str]:
    """run_certbot, once more with a new account if the CA no longer knows ours."""
    ok, output = run_certbot(settings, renew, runner)
    if not ok and account_lost(output):
        log(
            "account",
            "lost",
            f"{settings.server} does not know this ACME account any more: registering a new one.",
            server=settings.server,
        )
        forget_account(settings)
        ok, output = run_certbot(settings, renew, runner)
    return ok, output
