"""The certificate client (acme/acmeloop): settings, when it renews, what it installs for nginx
and with which modes, what it logs and what its metrics say. certbot is replaced by a stand-in
that writes a lineage as certbot does; tests/e2e/test_acme.py runs the real one against Pebble.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import stat
import subprocess
from pathlib import Path

import pytest
from acmeloop import __main__ as cli, core
from acmeloop.metrics import CertificateCollector
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, generate_latest

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0
DAY = 86400


def make_pem(names: list[str], not_after: float, serial: int = 1) -> tuple[bytes, bytes]:
    """(fullchain, private key) of a self-signed certificate for NAMES."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(dt.datetime.fromtimestamp(not_after - 90 * DAY, dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(not_after, dt.UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), private


def settings_for(tmp_path: Path, **environ: str) -> core.Settings:
    base = {
        "SERVER_NAME": "example.com www.example.com",
        "ACME_EMAIL": "ops@example.com",
        "ACME_STATE_DIR": str(tmp_path / "state"),
        "ACME_WEBROOT_DIR": str(tmp_path / "webroot"),
        "ACME_INSTALL_DIR": str(tmp_path / "tls"),
    }
    for name in ("state", "webroot", "tls"):
        (tmp_path / name).mkdir(exist_ok=True)
    return core.Settings.from_environ({**base, **environ})


class FakeCertbot:
    """Stands in for `certbot certonly`: records each command and, when it succeeds, writes a
    new lineage version for the requested domains, valid for VALID_DAYS."""

    def __init__(self, settings: core.Settings, outputs: list[tuple[int, str]] | None = None):
        self.settings = settings
        self.outputs = outputs or []
        self.commands: list[list[str]] = []
        self.environments: list[dict[str, str]] = []
        self.serial = 100
        self.valid_days = 90

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        self.commands.append(command)
        self.environments.append(kwargs["env"])  # type: ignore[arg-type]
        code, output = self.outputs.pop(0) if self.outputs else (0, "Successfully received")
        if code == 0:
            domains = [command[i + 1] for i, arg in enumerate(command) if arg == "--domain"]
            self.serial += 1
            fullchain, key = make_pem(domains, NOW + self.valid_days * DAY, self.serial)
            live = self.settings.lineage_fullchain.parent
            live.mkdir(parents=True, exist_ok=True)
            live.joinpath("fullchain.pem").write_bytes(fullchain)
            live.joinpath("privkey.pem").write_bytes(key)
            renewal = self.settings.config_dir / "renewal"
            renewal.mkdir(parents=True, exist_ok=True)
            server = command[command.index("--server") + 1]
            (renewal / f"{core.LINEAGE}.conf").write_text(f"version = 5.8.0\nserver = {server}\n")
        return subprocess.CompletedProcess(command, code, output, "")


@pytest.fixture(autouse=True)
def acme_logging(service_logging) -> None:
    """acme's lines on stdout, as `python -m acmeloop` configures them."""
    service_logging(core.LOGGER.name)


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def metrics(settings: core.Settings) -> dict[str, float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CertificateCollector(settings))
    out = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


# --- Settings ----------------------------------------------------------------------------------


def test_only_names_a_ca_can_issue_for_are_requested():
    settings = core.Settings.from_environ(
        {
            "SERVER_NAME": "example.com localhost 127.0.0.1 ::1 _ *.example.com ~^www Example.com "
            "app.localhost www.example.com",
            "ACME_EMAIL": "a@b.c",
        }
    )
    assert settings.domains == ("example.com", "www.example.com")
    assert settings.enabled


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"SERVER_NAME": "example.com"},
        {"ACME_EMAIL": "a@b.c"},
        {"SERVER_NAME": "localhost 127.0.0.1", "ACME_EMAIL": "a@b.c"},
    ],
)
def test_without_a_public_domain_and_an_address_acme_is_off(environ):
    assert not core.Settings.from_environ(environ).enabled


def test_the_ca_is_lets_encrypt_its_staging_or_the_one_named():
    assert core.Settings.from_environ({}).server == core.LETS_ENCRYPT
    assert core.Settings.from_environ({"ACME_STAGING": "1"}).server == core.LETS_ENCRYPT_STAGING
    named = core.Settings.from_environ({"ACME_STAGING": "1", "ACME_SERVER": "https://ca/dir"})
    assert named.server == "https://ca/dir"


@pytest.mark.parametrize(
    ("name", "value"),
    [("ACME_KEY_TYPE", "dsa"), ("ACME_CHECK_INTERVAL", "soon"), ("ACME_RENEW_BEFORE_DAYS", "0")],
)
def test_a_setting_that_cannot_be_used_is_refused_with_its_name(name, value):
    with pytest.raises(core.SettingsError, match=name):
        core.Settings.from_environ({name: value})


# --- When to renew -----------------------------------------------------------------------------


def test_renewal_is_due_without_a_certificate_and_near_expiry_only(tmp_path):
    settings = settings_for(tmp_path)
    assert core.renewal_reason(settings, NOW) == "no certificate yet"
    certbot = FakeCertbot(settings)
    certbot(core.certbot_command(settings, renew=False), env={})
    assert core.renewal_reason(settings, NOW) is None
    assert core.renewal_reason(settings, NOW, force=True) == "renewal forced"
    # 90 days valid; renewal starts 30 days before the end.
    assert core.renewal_reason(settings, NOW + 59 * DAY) is None
    assert "expires in" in core.renewal_reason(settings, NOW + 61 * DAY)


def test_renewal_is_due_when_the_domains_or_the_ca_change(tmp_path):
    settings = settings_for(tmp_path)
    FakeCertbot(settings)(core.certbot_command(settings, renew=False), env={})
    more = settings_for(tmp_path, SERVER_NAME="example.com www.example.com api.example.com")
    assert "domains changed" in core.renewal_reason(more, NOW)
    staging = settings_for(tmp_path, ACME_STAGING="1")
    assert "ACME server changed" in core.renewal_reason(staging, NOW)


def test_certbot_is_asked_for_every_domain_through_the_webroot(tmp_path):
    settings = settings_for(tmp_path, ACME_CA_BUNDLE="/ca.pem")
    command = core.certbot_command(settings, renew=True)
    assert command[:2] == ["certbot", "certonly"]
    assert command[command.index("--webroot-path") + 1] == str(settings.webroot)
    assert [command[i + 1] for i, a in enumerate(command) if a == "--domain"] == [
        "example.com",
        "www.example.com",
    ]
    assert {"--non-interactive", "--agree-tos", "--force-renewal", "--webroot"} <= set(command)
    assert core.certbot_environment(settings)["REQUESTS_CA_BUNDLE"] == "/ca.pem"


# --- A cycle -----------------------------------------------------------------------------------


def test_a_first_cycle_obtains_installs_for_nginx_and_logs_one_line(tmp_path, capsys):
    settings = settings_for(tmp_path)
    certbot = FakeCertbot(settings)
    assert core.cycle(settings, runner=certbot, clock=lambda: NOW)
    assert len(certbot.commands) == 1 and "--force-renewal" not in certbot.commands[0]
    live = settings.install_dir / "live"
    assert live.is_symlink() and not Path(live.readlink()).is_absolute()
    for name in ("fullchain.pem", "privkey.pem"):
        installed = live / name
        assert stat.S_IMODE(installed.stat().st_mode) == 0o640
        assert (settings.install_dir / name).read_bytes() == installed.read_bytes()
        assert installed.read_bytes() == (settings.lineage_fullchain.parent / name).read_bytes()
    assert stat.S_IMODE(live.resolve().stat().st_mode) == 0o750
    [line] = json_lines(capsys)
    assert (line["event"], line["outcome"], line["level"]) == ("renewal", "success", "INFO")
    assert "example.com" in line["message"] and line["serial"] == "65"
    values = metrics(settings)
    assert values["acme_configured"] == 1 and values["acme_certificate_installed"] == 1
    assert values["acme_certificate_not_after_seconds"] == NOW + 90 * DAY
    assert values['acme_renewals_total{outcome="success"}'] == 1
    assert values["acme_last_attempt_failed"] == 0
    assert values["acme_last_success_timestamp_seconds"] == NOW


def test_a_cycle_with_nothing_due_runs_no_certbot(tmp_path, capsys):
    settings = settings_for(tmp_path)
    certbot = FakeCertbot(settings)
    core.cycle(settings, runner=certbot, clock=lambda: NOW)
    capsys.readouterr()
    assert core.cycle(settings, runner=certbot, clock=lambda: NOW + DAY)
    assert len(certbot.commands) == 1
    [line] = json_lines(capsys)
    assert line["outcome"] == "not_due" and "89 days left" in line["message"]


def test_a_forced_renewal_installs_a_new_generation_and_keeps_two_old_ones(tmp_path):
    settings = settings_for(tmp_path)
    certbot = FakeCertbot(settings)
    core.cycle(settings, runner=certbot, clock=lambda: NOW)
    serials = []
    for _ in range(4):
        assert core.cycle(settings, force=True, runner=certbot, clock=lambda: NOW)
        serials.append(core.cert_info(core.installed_fullchain(settings)).serial)
        assert "--force-renewal" in certbot.commands[-1]
    assert len(set(serials)) == 4
    assert len(list(settings.install_dir.glob("gen-*"))) == 1 + core.KEEP_GENERATIONS
    assert metrics(settings)['acme_renewals_total{outcome="success"}'] == 5


def test_a_failed_renewal_keeps_the_certificate_logs_why_and_is_retried(tmp_path, capsys):
    settings = settings_for(tmp_path)
    certbot = FakeCertbot(settings)
    core.cycle(settings, runner=certbot, clock=lambda: NOW)
    before = (settings.install_dir / "live" / "fullchain.pem").read_bytes()
    capsys.readouterr()
    certbot.outputs = [
        (
            1,
            "Saving debug log to x\nCertbot failed to authenticate some domains\n"
            "  Domain: example.com\n  Type:   connection\n"
            "  Detail: 203.0.113.9: Fetching http://example.com/.well-known/"
            "acme-challenge/abc: Connection refused\n"
            "Ask for help or search for solutions at https://community",
        )
    ]
    assert not core.cycle(settings, force=True, runner=certbot, clock=lambda: NOW + 10)
    assert (settings.install_dir / "live" / "fullchain.pem").read_bytes() == before
    [line] = json_lines(capsys)
    assert (line["event"], line["outcome"], line["level"]) == ("renewal", "failure", "ERROR")
    assert "Connection refused" in line["message"]
    assert "keeps serving the current certificate" in line["message"]
    values = metrics(settings)
    assert values["acme_last_attempt_failed"] == 1
    assert values['acme_renewals_total{outcome="failure"}'] == 1
    assert values["acme_last_success_timestamp_seconds"] == NOW
    assert values["acme_last_attempt_timestamp_seconds"] == NOW + 10
    # The next cycle retries although the certificate is not due, and clears the failure.
    assert core.cycle(settings, runner=certbot, clock=lambda: NOW + 20)
    assert len(certbot.commands) == 3
    assert metrics(settings)["acme_last_attempt_failed"] == 0


def test_an_account_the_ca_lost_is_registered_again(tmp_path, capsys):
    settings = settings_for(tmp_path, ACME_SERVER="https://pebble:14000/dir")
    account = settings.config_dir / "accounts" / "pebble:14000" / "dir" / "abc"
    account.mkdir(parents=True)
    lost = "An unexpected error occurred:\nAccount https://pebble:14000/my-account/1 not found."
    certbot = FakeCertbot(settings, outputs=[(1, lost)])
    assert core.cycle(settings, runner=certbot, clock=lambda: NOW)
    assert len(certbot.commands) == 2
    assert not account.exists()
    assert [line["event"] for line in json_lines(capsys)] == ["account", "renewal"]


def test_without_settings_the_acme_certificate_is_removed_for_the_default_one(tmp_path, capsys):
    settings = settings_for(tmp_path)
    core.cycle(settings, runner=FakeCertbot(settings), clock=lambda: NOW)
    off = settings_for(tmp_path, SERVER_NAME="localhost")
    certbot = FakeCertbot(off)
    assert core.cycle(off, runner=certbot, clock=lambda: NOW)
    assert not certbot.commands
    assert not (off.install_dir / "live").exists()
    assert not list(off.install_dir.glob("gen-*"))
    assert json_lines(capsys)[-1]["outcome"] == "removed"
    assert metrics(off)["acme_configured"] == 0
    assert metrics(off)["acme_certificate_installed"] == 0


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "x\nAn unexpected error occurred:\nThe CA said no.\nAsk for help or search",
            "The CA said no.",
        ),
        ("Detail: one\nDetail: two\nAsk for help", "one; two"),
        (
            "Saving debug log to /x\nrequests.exceptions.ConnectionError: refused\nAsk for help x",
            "requests.exceptions.ConnectionError: refused",
        ),
        ("", "certbot failed without saying why"),
    ],
)
def test_the_failure_is_certbots_own_words_without_its_boilerplate(output, expected):
    assert core.failure_detail(output) == expected


def test_a_certificate_given_on_stdin_is_installed_as_if_issued(tmp_path, monkeypatch, capsys):
    settings = settings_for(tmp_path)
    fullchain, key = make_pem(["example.com"], NOW - DAY, serial=7)
    monkeypatch.setattr(core.Settings, "from_environ", classmethod(lambda cls, env: settings))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(key + fullchain)))
    assert cli.main(["install-pem"]) == 0
    info = core.cert_info(core.installed_fullchain(settings))
    assert info.serial == "7" and info.not_after == NOW - DAY
    assert json_lines(capsys)[-1]["outcome"] == "installed"


def test_an_expired_certificate_installed_by_hand_is_renewed_at_the_next_cycle(tmp_path, capsys):
    settings = settings_for(tmp_path)
    certbot = FakeCertbot(settings)
    core.cycle(settings, runner=certbot, clock=lambda: NOW)
    fullchain, key = make_pem(["example.com"], NOW - DAY, serial=7)
    core.install(settings, fullchain, key)
    assert "installed certificate expires" in core.renewal_reason(settings, NOW)
    assert core.cycle(settings, runner=certbot, clock=lambda: NOW)
    assert "--force-renewal" in certbot.commands[-1]
    info = core.cert_info(core.installed_fullchain(settings))
    assert info.serial != "7" and info.not_after > NOW


def test_after_failures_the_next_attempt_backs_off_up_to_the_retry_interval(tmp_path):
    # The defaults docs/certificates.md gives: checks every 12 h, retries up to every 1 h.
    settings = settings_for(tmp_path)
    waits = [core.next_attempt_in(settings, n) for n in range(9)]
    assert waits == [43200, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_a_requested_renewal_is_answered_through_the_status_file(tmp_path):
    settings = settings_for(tmp_path)
    request_id = core.make_request(settings, force=True)
    request = core.take_request(settings)
    assert request == {"id": request_id, "force": True}
    assert core.take_request(settings) is None
    assert core.read_answer(settings, request_id) is None
    core.answer_request(settings, request, False, {"outcome": "failure"})
    assert core.read_answer(settings, request_id) == {
        "id": request_id,
        "ok": False,
        "record": {"outcome": "failure"},
    }


def test_renew_without_a_running_service_renews_in_its_own_process(tmp_path, monkeypatch, capsys):
    settings = settings_for(tmp_path)
    certbot = FakeCertbot(settings)
    core.pid_file(settings).write_text("999999999")  # a service that is gone
    assert core.service_pid(settings) is None
    monkeypatch.setattr(core.Settings, "from_environ", classmethod(lambda cls, env: settings))
    monkeypatch.setattr(subprocess, "run", certbot)
    assert cli.main(["renew", "--force"]) == 0
    assert len(certbot.commands) == 1
    assert json_lines(capsys)[-1]["outcome"] == "success"
