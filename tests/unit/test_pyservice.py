"""pyservice/: what the app, the worker, the scheduler, acme and backup share. One log schema
(the same five keys first, Python's level names, stdout), one settings reader (bounds, secrets
from real files, a missing secret file refused by name), and a gunicorn master that never
imports the app."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyservice.logs import (
    FIELDS,
    JsonFormatter,
    add_context,
    configure_logging,
    log_event,
    service_logger,
)
from pyservice.settings import Env, SettingsError, read_secret

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


# --- Settings ----------------------------------------------------------------------------------


def test_a_blank_or_missing_setting_is_its_default() -> None:
    env = Env({"BLANK": "  "})
    assert env.str("BLANK", "d") == "d" and env.int("MISSING", 7) == 7
    assert env.float("BLANK", 1.5, 0.0) == 1.5 and env.bool("MISSING", True) is True


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda e: e.int("N", 1), "N must be an integer, got 'x'"),
        (lambda e: e.float("N", 1.0, 0.0), "N must be a number, got 'x'"),
        (lambda e: e.bool("N", True), "N must be true or false, got 'x'"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_name(read, message) -> None:
    with pytest.raises(SettingsError) as caught:
        read(Env({"N": "x"}))
    assert str(caught.value) == message


def test_numbers_are_held_to_their_bounds() -> None:
    assert Env({"N": "5"}).int("N", 1, minimum=5, maximum=5) == 5
    with pytest.raises(SettingsError, match=r"^N must be at least 2, got 1$"):
        Env({"N": "1"}).int("N", 3, minimum=2)
    with pytest.raises(SettingsError, match=r"^N must be at most 9, got 10$"):
        Env({"N": "10"}).int("N", 3, maximum=9)
    with pytest.raises(SettingsError, match=r"^R must be between 0.0 and 1.0, got 1.5$"):
        Env({"R": "1.5"}).float("R", 0.0, 0.0, 1.0)
    with pytest.raises(SettingsError, match=r"^D must be greater than 0.0, got 0.0$"):
        Env({"D": "0"}).float("D", 1.0, 0.0, exclusive_minimum=True)
    assert Env({"D": "0.5"}).float("D", 1.0, 0.0, exclusive_minimum=True) == 0.5


@pytest.mark.parametrize(("raw", "value"), [("on", True), ("YES", True), ("0", False)])
def test_booleans_are_spelled_the_usual_ways(raw: str, value: bool) -> None:
    assert Env({"B": raw}).bool("B", not value) is value


def test_a_secret_is_read_from_its_file_which_wins_over_the_variable(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("  s3cret\n")
    env = Env({"PASSWORD": "from-env", "PASSWORD_FILE": str(secret)})
    assert env.secret("PASSWORD") == "s3cret"
    assert Env({"PASSWORD": "from-env"}).secret("PASSWORD") == "from-env"
    assert Env({}).secret("PASSWORD") is None


def test_an_empty_secret_file_means_unset(tmp_path: Path) -> None:
    empty = tmp_path / "dsn"
    empty.write_text("\n")
    assert Env({"DSN_FILE": str(empty)}).secret("DSN") is None


def test_a_missing_secret_file_is_an_error_naming_its_variable(tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    with pytest.raises(SettingsError) as caught:
        Env({"PASSWORD_FILE": str(absent)}).secret("PASSWORD")
    assert str(caught.value) == "PASSWORD_FILE cannot be read (No such file or directory)"
    with pytest.raises(SettingsError, match=r"^POSTGRES_PASSWORD_FILE cannot be read"):
        read_secret(absent, "POSTGRES_PASSWORD_FILE")


# --- Logs --------------------------------------------------------------------------------------


def formatted(record_logger: str, level: int, message: str, **extra: object) -> dict:
    record = logging.getLogger(record_logger).makeRecord(
        record_logger, level, "f.py", 1, message, (), None, extra=extra
    )
    line: dict = json.loads(JsonFormatter().format(record))
    return line


def test_every_line_starts_with_the_five_fields_then_its_own() -> None:
    line = formatted("svc", logging.WARNING, "careful", event="x", count=2)
    assert list(line) == [*FIELDS, "event", "count"]
    assert line["timestamp"].endswith("Z") and line["timestamp"][10] == "T"
    assert (line["level"], line["logger"], line["message"]) == ("WARNING", "svc", "careful")
    assert line["pid"] == os.getpid()


def test_a_traceback_is_one_field_of_the_line() -> None:
    logger = logging.getLogger("tests.pyservice.exc")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed")
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["level"] == "ERROR" and "RuntimeError: boom" in line["exc_info"]


def test_a_context_adds_its_fields_to_every_line_but_never_overrides_one() -> None:
    def context() -> dict:
        return {"request_id": "ctx", "event": "ctx"}

    add_context(context)
    try:
        line = formatted("svc", logging.INFO, "m", event="own")
    finally:
        from pyservice import logs

        logs._contexts.remove(context)
    assert (line["request_id"], line["event"]) == ("ctx", "own")


def test_an_outcome_is_logged_error_on_failure_info_otherwise_event_first(
    service_logging, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = service_logging("tests-service")
    returned = log_event(logger, "renewal", "failure", "it failed", reason="r")
    log_event(logger, "renewal", "success", "it worked")
    failure, success = (json.loads(text) for text in capsys.readouterr().out.splitlines())
    assert list(failure) == [*FIELDS, "event", "outcome", "reason"]
    assert (failure["level"], failure["event"], failure["outcome"]) == (
        "ERROR",
        "renewal",
        "failure",
    )
    assert success["level"] == "INFO" and success["logger"] == "tests-service"
    assert {k: v for k, v in returned.items() if k != "timestamp"} == {
        k: v for k, v in failure.items() if k != "timestamp"
    }


def test_a_service_logs_its_own_info_lines_and_the_libraries_warnings_only(
    service_logging, capsys: pytest.CaptureFixture[str]
) -> None:
    service_logging("tests-own")
    logging.getLogger("tests-own").info("mine")
    logging.getLogger("botocore.credentials").info("Found credentials")
    logging.getLogger("botocore.credentials").warning("a library's warning")
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines] == ["mine", "a library's warning"]


def test_a_command_whose_stdout_is_data_logs_on_stderr(
    service_logging, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = service_logger("tests-fetch", stream="stderr")
    logger.info("fetched")
    captured = capsys.readouterr()
    assert captured.out == "" and json.loads(captured.err)["message"] == "fetched"


def test_configuring_twice_installs_one_handler(service_logging) -> None:
    configure_logging()
    configure_logging()
    root = logging.getLogger()
    assert sum(isinstance(h.formatter, JsonFormatter) for h in root.handlers) == 1


# --- gunicorn's master -------------------------------------------------------------------------


def test_gunicorns_settings_and_log_configuration_import_no_module_of_the_app() -> None:
    """What the master holds before it forks, every worker inherits: under `make dev` a
    reloaded worker would serve an app module's old code."""
    code = (
        "import logging.config, runpy, sys\n"
        "settings = runpy.run_path('gunicorn.conf.py')\n"
        "logging.config.dictConfig(settings['logconfig_dict'])\n"
        "logging.getLogger('gunicorn.error').info('started')\n"
        "print(sorted(m for m in sys.modules if m == 'app' or m.startswith('app.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    started, imported = result.stdout.splitlines()
    assert json.loads(started)["message"] == "started"
    assert imported == "[]"


def test_a_bad_gunicorn_setting_stops_it_with_one_line_and_exit_78() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('gunicorn.conf.py')"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "GUNICORN_WORKERS": "0"},
    )  # fmt: skip
    assert result.returncode == 78
    assert result.stderr == "configuration error: GUNICORN_WORKERS must be at least 1, got 0\n"


def test_the_apps_preflight_refuses_a_bad_configuration_with_exit_78() -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "FLASK"))}
    result = subprocess.run(
        [sys.executable, "-m", "app.preflight"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False, env={**environ, "FLASK_CONFIG": "staging"},
    )  # fmt: skip
    assert result.returncode == 78
    assert result.stderr.startswith("configuration error: FLASK_CONFIG must be one of")


# --- The images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("dockerfile", "uid"), [
    ("Dockerfile", "APP_UID"), ("acme/Dockerfile", "ACME_UID"), ("backup/Dockerfile", "BACKUP_UID"),
])  # fmt: skip
def test_the_python_images_build_their_venv_one_way_and_take_their_user_from_an_arg(
    dockerfile: str, uid: str
) -> None:
    text = (ROOT / dockerfile).read_text()
    build = text[text.index("AS build\n") : text.index("\nFROM ", text.index("AS build\n"))]
    lines = build.splitlines()
    assert lines[1] == "COPY pyservice/build-venv.sh /usr/local/bin/build-venv"
    assert re.fullmatch(r"COPY ([a-z]+/)?requirements\.txt /tmp/requirements\.txt", lines[2])
    assert lines[3].startswith("RUN build-venv /tmp/requirements.txt")
    assert "COPY pyservice/*.py ./pyservice/" in text
    assert re.search(rf"^ARG {uid}=\d+$", text, re.M)
    assert re.search(rf"^USER \$\{{{uid}\}}:\$\{{[A-Z_]+\}}$", text, re.M)
    assert not re.search(r"\bpython3\b", text), "one python invocation: `python`"
