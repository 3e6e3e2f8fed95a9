"""One cycle: obtain or renew the certificate when due, install it, record and log the
outcome."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from .certbot import Runner, failure_detail, obtain
from .certs import cert_info, lineage_server
from .install import install_from_lineage, installed_fullchain, uninstall
from .log import log
from .settings import Settings
from .status import locked, read_status, write_status


def renewal_reason(settings: Settings, now: float, force: bool = False) -> str | None:
    """Why the certificate must be obtained now, or None when the one we have will do."""
    current = cert_info(settings.lineage_fullchain)
    if current is None:
        return "no certificate yet"
    if force:
        return "renewal forced"
    if set(current.names) != set(settings.domains):
        return f"the domains changed ({', '.join(current.names)} -> {', '.join(settings.domains)})"
    server = lineage_server(settings)
    if server is not None and server != settings.server:
        return f"the ACME server changed ({server} -> {settings.server})"
    if current.days_left(now) < settings.renew_before_days:
        return f"it expires in {current.days_left(now):.1f} days"
    # What nginx serves counts too: an installed certificate that expires (restored from an
    # old backup, or installed by hand) is renewed as if it were certbot's.
    served = cert_info(installed_fullchain(settings))
    if served is not None and served.days_left(now) < settings.renew_before_days:
        return f"the installed certificate expires in {served.days_left(now):.1f} days"
    return None


def cycle(
    settings: Settings,
    force: bool = False,
    runner: Runner | None = None,
    clock: Callable[[], float] = time.time,
) -> bool:
    """Obtain or renew the certificate when due (or FORCE), install it, record and log the
    outcome. False only when an attempt failed; the installed certificate is then left alone."""
    with locked(settings):
        status = read_status(settings)
        now = clock()
        if not settings.enabled:
            if uninstall(settings):
                log(
                    "install",
                    "removed",
                    "SERVER_NAME or ACME_EMAIL is not set: the ACME "
                    "certificate was removed and nginx serves its default certificate again.",
                )
            status.update(configured=False, last_attempt_failed=False)
            write_status(settings, status)
            return True
        status["configured"] = True
        reason = renewal_reason(settings, now, force)
        if reason is None and status.get("last_attempt_failed"):
            # A failed attempt is retried (every ACME_RETRY_INTERVAL) until one succeeds.
            reason = "retrying after the last attempt failed"
        outcome = "not_due"
        if reason is not None:
            renew = settings.lineage_fullchain.exists()
            status["last_attempt"] = now
            ok, output = obtain(settings, renew, runner)
            if not ok:
                status["last_attempt_failed"] = True
                status["renewals"]["failure"] = status["renewals"].get("failure", 0) + 1
                write_status(settings, status)
                served = cert_info(installed_fullchain(settings))
                still = (
                    f"nginx keeps serving the current certificate (serial {served.serial}, "
                    f"expires {_iso(served.not_after)})"
                    if served
                    else "nginx keeps serving its default certificate"
                )
                log(
                    "renewal",
                    "failure",
                    f"Obtaining the certificate for {', '.join(settings.domains)} from "
                    f"{settings.server} failed ({reason}): {failure_detail(output)}; {still}; "
                    "it is tried again later.",
                    domains=list(settings.domains),
                    server=settings.server,
                    reason=reason,
                )
                return False
            outcome = "success"
            status["last_attempt_failed"] = False
            status["last_success"] = now
            status["renewals"]["success"] = status["renewals"].get("success", 0) + 1
        installed = install_from_lineage(settings)
        write_status(settings, status)
        info = cert_info(installed_fullchain(settings))
        names = ", ".join(info.names) if info else ", ".join(settings.domains)
        if info is None:
            log("check", "failure", f"No certificate for {names} could be installed.")
            return False
        facts = {
            "domains": list(settings.domains),
            "serial": info.serial,
            "not_after": _iso(info.not_after),
        }
        if outcome == "success" or installed:
            because = f" ({reason})" if reason else ""
            log(
                "renewal" if outcome == "success" else "install",
                outcome if outcome == "success" else "installed",
                f"Certificate for {names} installed{because}: serial {info.serial}, expires "
                f"{_iso(info.not_after)}; nginx serves it from the next TLS handshake.",
                server=settings.server,
                **facts,
            )
        else:
            log(
                "check",
                "not_due",
                f"Certificate for {names} is not due for renewal: "
                f"{info.days_left(now):.0f} days left.",
                **facts,
            )
        return True


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat().replace("+00:00", "Z")
