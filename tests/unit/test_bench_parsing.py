"""bench/latency.py and bench/peer_swap.py's pure parts: h2load's output, the percentiles
computed from its per-request log, the fixed-rate plan, the peers' order, ratios and swaps."""

from __future__ import annotations

import json

import pytest

from bench import latency, peer_swap

pytestmark = pytest.mark.unit

# h2load 1.52 (nghttp2-client, Debian 12), run with --log-file=/dev/stdout: the log lines
# (start µs, status, µs) come first, then its summary.
H2LOAD_OUTPUT = """\
starting benchmark...
spawning thread #0: 4 total client(s). Timing-based test with 0s of warm-up time and 2s of \
main duration for measurements.
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
1795863024634019\t200\t446
1795863024639645\t200\t579
1795863024736818\t503\t9974
1795863024736814\t200\t10852
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.01s, 2.00 req/s, 28.58KB/s
requests: 4 total, 4 started, 4 done, 3 succeeded, 1 failed, 0 errored, 0 timeout
status codes: 3 2xx, 0 3xx, 0 4xx, 1 5xx
traffic: 57.17KB (58540) total, 45.41KB (46500) headers (space savings 0.00%), 5.97KB (6110) data
                     min         max         mean         sd        +/- sd
time for request:      302us     14.24ms      4.32ms      3.70ms    67.50%
"""


def test_the_log_lines_and_the_summary_are_told_apart():
    log, summary = latency.split_output(H2LOAD_OUTPUT)
    assert log.splitlines() == [line for line in H2LOAD_OUTPUT.splitlines() if "\t" in line]
    assert "requests: 4 total" in summary and "\t" not in summary


def test_the_summary_counts_every_request_without_a_2xx_once():
    summary = latency.parse_summary(latency.split_output(H2LOAD_OUTPUT)[1])
    assert summary["done"] == 4 and summary["succeeded"] == 3
    assert summary["status"] == {"2xx": 3, "3xx": 0, "4xx": 0, "5xx": 1}
    assert summary["errors"] == 1  # the 503: `failed` and the status class name the same one
    assert summary["seconds"] == pytest.approx(2.01)


def test_a_redirect_and_a_request_without_an_answer_are_errors_too():
    text = (
        "finished in 950ms, 1.00 req/s\n"
        "requests: 10 total, 10 started, 8 done, 6 succeeded, 2 failed, 2 errored, 0 timeout\n"
        "status codes: 5 2xx, 1 3xx, 0 4xx, 0 5xx\n"
    )
    summary = latency.parse_summary(text)
    assert summary["errors"] == 3  # 2 failed without a status, 1 redirect
    assert summary["seconds"] == pytest.approx(0.95)


def test_output_without_a_summary_is_refused_with_what_h2load_said():
    with pytest.raises(latency.ParseError, match=r"no summary: .*connect to host"):
        latency.parse_summary("could not connect to host\n")


def test_the_request_log_gives_status_and_duration_and_refuses_other_lines():
    assert latency.parse_request_log("1\t200\t446\n\n2\t404\t9\n") == [(200, 446), (404, 9)]
    with pytest.raises(latency.ParseError, match="line 2"):
        latency.parse_request_log("1\t200\t446\n1\t200\n")


def test_percentiles_are_the_nearest_rank():
    values = [float(n) for n in range(1, 1001)]  # 1 .. 1000
    assert latency.percentile(values, 0.5) == 500
    assert latency.percentile(values, 0.99) == 990
    assert latency.percentile(values, 0.999) == 999
    assert latency.percentile(values, 1.0) == 1000
    assert latency.percentile([7.0], 0.999) == 7
    # 3 values: p50 is the 2nd, p99 the 3rd (never between two values).
    assert latency.percentile([1.0, 2.0, 30.0], 0.5) == 2
    assert latency.percentile([1.0, 2.0, 30.0], 0.99) == 30
    with pytest.raises(ValueError):
        latency.percentile([], 0.5)
    with pytest.raises(ValueError):
        latency.percentile([1.0], 0)


def test_latency_figures_are_in_ms_over_every_request_sorted():
    rows = [(200, us) for us in range(1000, 0, -1)]  # 1000 µs down to 1 µs, unsorted
    rows.append((500, 2_000_000))  # a slow error is counted, not dropped
    figures = latency.latency_figures(rows)
    assert figures["p50_ms"] == pytest.approx(0.501)
    assert figures["p99_ms"] == pytest.approx(0.991)
    assert figures["max_ms"] == pytest.approx(2000)
    with pytest.raises(latency.ParseError, match="empty"):
        latency.latency_figures([])


def test_the_fixed_rate_is_half_the_peak_split_over_clients_of_at_most_25_per_second():
    clients, per_client = latency.fixed_rate_plan(1000)
    assert clients == 20 and per_client == 25
    clients, per_client = latency.fixed_rate_plan(30)
    assert (clients, per_client) == (1, 15)
    clients, per_client = latency.fixed_rate_plan(100_000, max_clients=64)
    assert clients == 64 and clients * per_client == pytest.approx(50_000, rel=1e-3)
    with pytest.raises(ValueError):
        latency.fixed_rate_plan(0)


def test_peers_alternate_forward_then_backward_starting_with_the_stack():
    peers = ["stack", "recipe", "bare", "granian"]
    assert latency.alternation(peers, 1) == peers
    assert latency.alternation(peers, 2) == peers + peers[::-1]
    assert latency.alternation(peers, 3)[8:] == peers


def test_the_peer_table_takes_the_median_of_the_rounds_and_the_ratio_to_the_stack():
    def run(peer, rps, errors=0, app_cpu=None):
        row = {"rps": rps, "p99_ms": rps / 10, "errors": errors}
        if app_cpu is not None:
            row["cpu_us_per_request"] = {"app": app_cpu, "nginx": 1.0}
        return {"peer": peer, "scenarios": {"healthz": row}}

    runs = [run("stack", 100, app_cpu=500), run("recipe", 40, 1), run("recipe", 60),
            run("stack", 200, app_cpu=300), run("stack", 150, app_cpu=400)]  # fmt: skip
    table = latency.peer_table(runs, "stack")
    assert table["stack"]["healthz"]["rps"] == 150 and table["stack"]["healthz"]["ratio"] == 1
    assert table["stack"]["healthz"]["app_cpu_us"] == 400
    assert table["recipe"]["healthz"] == {
        "rps": 50, "p99_ms": 5, "errors": 1, "rounds": 2, "ratio": pytest.approx(50 / 150, 1e-3),
        "app_cpu_us": None,
    }  # fmt: skip
    only_bare = latency.peer_table(
        [{"peer": "bare", "scenarios": run("x", 1)["scenarios"]}], "stack"
    )
    assert only_bare["bare"]["healthz"]["ratio"] is None


def test_a_peer_is_swapped_in_over_the_stacks_own_files_and_the_stack_is_restored_without():
    recipe = peer_swap.up_app_args("recipe")
    assert recipe[:2] == ["-f", "compose.yaml"]
    assert recipe[3].endswith("bench/peers/compose.recipe.yaml") and "--no-deps" in recipe
    assert recipe[-1] == "app" and "--no-build" in recipe and "--wait" in recipe
    stack = peer_swap.up_app_args("stack")
    assert "-f" not in stack and "--no-deps" not in stack and stack[-1] == "app"


def test_a_peer_follows_compose_file_when_the_user_sets_it(monkeypatch):
    monkeypatch.setenv("COMPOSE_FILE", "compose.yaml:compose.extra.yaml")
    monkeypatch.delenv("COMPOSE_PATH_SEPARATOR", raising=False)
    args = peer_swap.up_app_args("granian")
    assert args[:4] == ["-f", "compose.yaml", "-f", "compose.extra.yaml"]


def test_every_peer_has_its_override_file_and_scenarios():
    assert peer_swap.recipe_workers(2) == 5
    for peer, (override, _) in peer_swap.PEERS.items():
        assert peer_swap.PEER_SCENARIOS[peer]
        if override:
            assert (peer_swap.PEERS_DIR / override).is_file(), peer


def test_the_fingerprint_names_what_a_restored_app_must_keep():
    container = {
        "Image": "sha256:1",
        "Config": {"Image": "p/app:local", "Cmd": ["gunicorn"], "Entrypoint": None,
                   "Env": ["B=2", "A=1"], "Healthcheck": {"Interval": 1},
                   "Labels": {"com.docker.compose.config-hash": "abc"}},
    }  # fmt: skip
    assert peer_swap.fingerprint(container) == {
        "image": "p/app:local", "image_id": "sha256:1", "cmd": ["gunicorn"], "entrypoint": None,
        "env": ["A=1", "B=2"], "healthcheck": {"Interval": 1}, "config_hash": "abc",
    }  # fmt: skip


def test_the_deep_page_goes_by_cursor_when_the_api_gives_one_and_else_by_offset():
    path, mode = latency.deep_page_path({"items": [], "next_cursor": "eyJpZCI6IDF9+/="}, 900)
    assert mode == "cursor"
    assert path == "/api/items?limit=20&cursor=eyJpZCI6IDF9%2B%2F%3D"  # opaque: escaped
    for page in ({"items": []}, {"items": [], "next_cursor": None}, b"not json"):
        path, mode = latency.deep_page_path(page, 900)
        assert path == "/api/items?limit=20&offset=900"
        assert mode == "offset (cursor pagination not available)"


# bench/wrk/bench.lua's line, as wrk 4.1 (Debian 12) prints it after a run with failures.
WRK_LINE = (
    '{"requests": 120, "duration_us": 2000000, "bytes": 4000, "errors": {"connect": 0, '
    '"read": 2, "write": 0, "timeout": 1, "status_ge_400": 9, "non_2xx": 9}, '
    '"statuses": {"429": 4, "502": 5}, "latency_us": {"mean": 1500.0, "stdev": 10.0, '
    '"max": 9000, "p50": 1000, "p90": 2000, "p99": 5000, "p99_9": 8000}}'
)


def test_the_wrk_summary_counts_errors_once_and_keeps_the_non_2xx_by_status():
    row = latency.wrk_summary(json.loads(WRK_LINE))
    assert row["statuses"] == {"429": 4, "502": 5}
    assert (row["non_2xx"], row["socket_errors"], row["errors"]) == (9, 3, 12)
    assert (row["rps"], row["p99_ms"]) == (60.0, 5.0)
