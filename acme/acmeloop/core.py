"""Settings, the renewal decision, certbot, the installation nginx reads, and the status file.

Everything the loop decides is read from files, never kept in memory alone: a forced renewal run
by `docker compose exec acme python -m acmeloop renew --force` is another process than the
loop's, and both must see the same certificate, status and metrics.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import json
import logging
import os
import shutil
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pyservice.logs import log_event
from pyservice.settings import Env, SettingsError

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
# certbot's name for the one certificate this stack keeps, whatever its domains.
LINEAGE = "edge"
# Generations of the installed certificate kept besides the current one, so that a reader
# that resolved the previous generation a moment ago can still finish reading it.
KEEP_GENERATIONS = 2


def issuable(name: str) -> bool:
    """Whether an ACME CA can issue for NAME over HTTP-01: not localhost, not an address, not a
    wildcard or an nginx regex or catch-all name."""
    if not name or name == "_" or name.startswith("~") or "*" in name:
        return False
    lowered = name.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        return False
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(lowered.strip("[]"))
        return False
    return True


@dataclass(frozen=True)
class Settings:
    domains: tuple[str, ...]
    email: str
    server: str
    ca_bundle: str
    renew_before_days: float
    check_interval: float
    retry_interval: float
    key_type: str
    state_dir: Path
    webroot: Path
    install_dir: Path
    metrics_port: int

    @property
    def enabled(self) -> bool:
        """Both a domain and a contact address: otherwise the self-signed certificate stays."""
        return bool(self.domains and self.email)

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "certbot"

    @property
    def status_file(self) -> Path:
        return self.state_dir / "status.json"

    @property
    def lineage_fullchain(self) -> Path:
        return self.config_dir / "live" / LINEAGE / "fullchain.pem"

    @property
    def lineage_privkey(self) -> Path:
        return self.config_dir / "live" / LINEAGE / "privkey.pem"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        env = Env(environ)
        domains = tuple(
            dict.fromkeys(n.lower() for n in env.str("SERVER_NAME", "").split() if issuable(n))
        )
        staging = env.bool("ACME_STAGING", False)
        server = env.str("ACME_SERVER", LETS_ENCRYPT_STAGING if staging else LETS_ENCRYPT)
        key_type = env.str("ACME_KEY_TYPE", "ecdsa")
        if key_type not in {"ecdsa", "rsa"}:
            raise SettingsError(f"ACME_KEY_TYPE must be ecdsa or rsa, got {key_type!r}")
        return cls(
            domains=domains,
            email=env.str("ACME_EMAIL", ""),
            server=server,
            ca_bundle=env.str("ACME_CA_BUNDLE", ""),
            renew_before_days=_positive(env, "ACME_RENEW_BEFORE_DAYS", 30),
            check_interval=_positive(env, "ACME_CHECK_INTERVAL", 43200),
            retry_interval=_positive(env, "ACME_RETRY_INTERVAL", 3600),
            key_type=key_type,
            state_dir=Path(env.str("ACME_STATE_DIR", "/srv/acme/state")),
            webroot=Path(env.str("ACME_WEBROOT_DIR", "/srv/acme/webroot")),
            install_dir=Path(env.str("ACME_INSTALL_DIR", "/srv/acme/tls")),
            metrics_port=env.int("ACME_METRICS_PORT", 9100, minimum=1, maximum=65535),
        )


def _positive(env: Env, name: str, default: float) -> float:
    """A number of seconds or days greater than 0."""
    return env.float(name, default, 0.0, exclusive_minimum=True)


# --- Logging -----------------------------------------------------------------------------------


LOGGER = logging.getLogger("acme")


def log(event: str, outcome: str, message: str, **fields: object) -> dict:
    """One line of the stack's log schema (pyservice/logs.py) on stdout; returned."""
    global last_record
    last_record = log_event(LOGGER, event, outcome, message, **fields)
    return last_record


# The last line logged: what a renewal requested through the service reports back.
last_record: dict = {}


# --- Certificates ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertInfo:
    serial: str
    not_after: float
    names: tuple[str, ...]
    issuer: str

    def days_left(self, now: float) -> float:
        return (self.not_after - now) / 86400


def cert_info(path: Path) -> CertInfo | None:
    """The leaf (first) certificate of a PEM file; None when there is no readable one."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(sorted(n.lower() for n in san.get_values_for_type(x509.DNSName)))
    except x509.ExtensionNotFound:
        names = ()
    return CertInfo(
        serial=format(cert.serial_number, "x"),
        not_after=cert.not_valid_after_utc.timestamp(),
        names=names,
        issuer=cert.issuer.rfc4514_string(),
    )


def lineage_server(settings: Settings) -> str | None:
    """The ACME directory certbot's renewal configuration says the lineage came from."""
    conf = settings.config_dir / "renewal" / f"{LINEAGE}.conf"
    with contextlib.suppress(OSError):
        for line in conf.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "server":
                return value.strip()
    return None


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


# --- Installation: where nginx reads the certificate -------------------------------------------
#
# install_dir/gen-<time>/fullchain.pem, privkey.pem   one generation, never changed once written
# install_dir/live -> gen-<time>                       the current one, switched by a rename
# install_dir/fullchain.pem -> live/fullchain.pem      stable names for people and tools
# install_dir/privkey.pem -> live/privkey.pem
#
# The files are 0640: this process runs in nginx's group (compose.yaml), so nginx reads them and
# nobody else does. nginx copies the generation `live` names, checks it and serves it from the
# next handshake.


def installed_fullchain(settings: Settings) -> Path:
    return settings.install_dir / "live" / "fullchain.pem"


def _replace_symlink(target: str, link: Path) -> None:
    temporary = link.with_name(f".{link.name}.new")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(target)
    os.replace(temporary, link)


def install(settings: Settings, fullchain: bytes, privkey: bytes) -> Path:
    """Install a certificate and its key as a new generation, switched to atomically."""
    root = settings.install_dir
    generation = root / f"gen-{time.time_ns()}"
    partial = root / f".{generation.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o750)
    os.chmod(partial, 0o750)
    for name, data in (("fullchain.pem", fullchain), ("privkey.pem", privkey)):
        fd = os.open(partial / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(partial / name, 0o640)
    os.rename(partial, generation)
    _replace_symlink(generation.name, root / "live")
    for name in ("fullchain.pem", "privkey.pem"):
        if not (root / name).is_symlink():
            _replace_symlink(f"live/{name}", root / name)
    _prune(root, keep={generation.name})
    return generation


def uninstall(settings: Settings) -> bool:
    """Remove the installed certificate (nginx falls back to its default one); True if any."""
    root = settings.install_dir
    had = (root / "live").is_symlink()
    for name in ("live", "fullchain.pem", "privkey.pem"):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()
    _prune(root, keep=set(), keep_count=0)
    return had


def _prune(root: Path, keep: set[str], keep_count: int = KEEP_GENERATIONS) -> None:
    generations = sorted((p for p in root.glob("gen-*") if p.is_dir()), key=lambda p: p.name)
    old = [p for p in generations if p.name not in keep]
    for path in old[: max(0, len(old) - keep_count)]:
        shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(".gen-*.partial"):
        shutil.rmtree(path, ignore_errors=True)


def _pem_certificates(data: bytes) -> bytes:
    """Only the certificates of a PEM bundle, normalised, to compare two bundles."""
    return b"".join(c.public_bytes(Encoding.PEM) for c in x509.load_pem_x509_certificates(data))


def install_from_lineage(settings: Settings) -> bool:
    """Install certbot's current certificate unless it is the one installed; True if installed."""
    fullchain = settings.lineage_fullchain.read_bytes()
    privkey = settings.lineage_privkey.read_bytes()
    with contextlib.suppress(OSError, ValueError):
        current = installed_fullchain(settings).read_bytes()
        if _pem_certificates(current) == _pem_certificates(fullchain):
            return False
    install(settings, fullchain, privkey)
    return True


# --- Status: what the metrics and the next attempt are computed from ----------------------------


def read_status(settings: Settings) -> dict:
    try:
        status: dict = json.loads(settings.status_file.read_text())
    except (OSError, ValueError):
        status = {}
    status.setdefault("renewals", {})
    return status


def write_status(settings: Settings, status: dict) -> None:
    temporary = settings.status_file.with_suffix(".json.new")
    temporary.write_text(json.dumps(status, sort_keys=True))
    os.replace(temporary, settings.status_file)


@contextlib.contextmanager
def locked(settings: Settings) -> Iterator[None]:
    """One certbot run at a time: the loop's and a forced renewal's."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def next_attempt_in(settings: Settings, failures: int) -> float:
    """Seconds until the next cycle: the check interval after a success; after failures, 1, 2,
    4, ... minutes up to ACME_RETRY_INTERVAL (a DNS record or a port just being set up gets a
    prompt retry, and a CA's limit on failed validations is not run into)."""
    if failures == 0:
        return settings.check_interval
    return min(settings.retry_interval, 60.0 * 2 ** min(failures - 1, 20))


# --- Renewals requested by `python -m acmeloop renew` in the running container -------------------
#
# The service's own process runs them (its log is the container's log): the command writes a
# request file, wakes the service with SIGUSR1 and waits for the answer in the status file.


def pid_file(settings: Settings) -> Path:
    return settings.state_dir / "service.pid"


def service_pid(settings: Settings) -> int | None:
    """The running service's pid, if one runs here."""
    try:
        pid = int(pid_file(settings).read_text())
        # A pid left by an earlier container may now be another process.
        if b"acmeloop" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() else None


def _request_file(settings: Settings) -> Path:
    return settings.state_dir / "request.json"


def make_request(settings: Settings, force: bool) -> str:
    request_id = uuid.uuid4().hex
    temporary = _request_file(settings).with_suffix(".new")
    temporary.write_text(json.dumps({"id": request_id, "force": force}))
    os.replace(temporary, _request_file(settings))
    return request_id


def take_request(settings: Settings) -> dict | None:
    try:
        request: dict = json.loads(_request_file(settings).read_text())
        _request_file(settings).unlink()
    except (OSError, ValueError):
        return None
    return request


def answer_request(settings: Settings, request: dict, ok: bool, record: dict) -> None:
    with locked(settings):
        status = read_status(settings)
        status["answer"] = {"id": request.get("id"), "ok": ok, "record": record}
        write_status(settings, status)


def read_answer(settings: Settings, request_id: str) -> dict | None:
    answer = read_status(settings).get("answer") or {}
    return answer if answer.get("id") == request_id else None


# --- One cycle ---------------------------------------------------------------------------------


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
