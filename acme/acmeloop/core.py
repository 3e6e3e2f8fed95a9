"""The certificate client's parts under one name, for the command (__main__.py), the metrics
and the tests; each lives in a module of its own:

settings.py   the settings            log.py       the log lines (the stack's schema)
certs.py      reading a certificate   certbot.py   running certbot and reading its output
install.py    the installation nginx reads         status.py    the status file and the lock
requests.py   renewals requested by `renew`        cycle.py     one cycle: decide, obtain, install

Everything the loop decides is read from files, never kept in memory alone: a forced renewal run
by `docker compose exec acme python -m acmeloop renew --force` is another process than the
loop's, and both must see the same certificate, status and metrics.
"""

from __future__ import annotations

from .certbot import (
    Runner,
    account_lost,
    certbot_command,
    certbot_environment,
    failure_detail,
    forget_account,
    obtain,
    run_certbot,
)
from .certs import CertInfo, cert_info, lineage_server
from .cycle import cycle, renewal_reason
from .install import (
    KEEP_GENERATIONS,
    install,
    install_from_lineage,
    installed_fullchain,
    uninstall,
)
from .log import LOGGER, last_record, log
from .requests import (
    answer_request,
    make_request,
    pid_file,
    read_answer,
    service_pid,
    take_request,
)
from .settings import LETS_ENCRYPT, LETS_ENCRYPT_STAGING, LINEAGE, Settings, SettingsError, issuable
from .status import locked, next_attempt_in, read_status, write_status

__all__ = [
    "KEEP_GENERATIONS",
    "LETS_ENCRYPT",
    "LETS_ENCRYPT_STAGING",
    "LINEAGE",
    "LOGGER",
    "CertInfo",
    "Runner",
    "Settings",
    "SettingsError",
    "account_lost",
    "answer_request",
    "cert_info",
    "certbot_command",
    "certbot_environment",
    "cycle",
    "failure_detail",
    "forget_account",
    "install",
    "install_from_lineage",
    "installed_fullchain",
    "issuable",
    "last_record",
    "lineage_server",
    "locked",
    "log",
    "make_request",
    "next_attempt_in",
    "obtain",
    "pid_file",
    "read_answer",
    "read_status",
    "renewal_reason",
    "run_certbot",
    "service_pid",
    "take_request",
    "uninstall",
    "write_status",
]
