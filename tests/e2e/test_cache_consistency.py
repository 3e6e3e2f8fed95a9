"""The cache in the real Redis: never older than the last acknowledged write, under concurrent
readers and writers and across an outage; and nothing but JSON is ever read back."""

from __future__ import annotations

import concurrent.futures
import pickle
import subprocess
import threading
import time
import uuid

import pytest

from tests.support.edge import BASE, new_session
from tests.support.settings import COMPOSE_SH, ROOT, compose_config
from tests.support.stack import (
    compose,
    gunicorn_processes,
    json_log_lines,
    wait_for,
    wait_healthy,
)

WRITERS, READERS, ROUNDS = 4, 8, 40


@pytest.mark.exclusive
def test_concurrent_readers_never_see_a_value_older_than_the_last_acknowledged_write(
    edge_limits_raised,
):
    session = new_session(retry_on_429=False)
    items = [
        session.post(f"{BASE}/api/items", json={"name": "v0"}, timeout=10).json()["id"]
        for _ in range(3)
    ]
    locks = {item: threading.Lock() for item in items}
    acked = dict.fromkeys(items, 0)  # the highest version whose PATCH has returned
    stale: list[str] = []
    done = threading.Event()

    def write(index: int) -> None:
        with new_session(retry_on_429=False) as own:
            for round_ in range(ROUNDS):
                item = items[(index + round_) % len(items)]
                # One write per item at a time, so versions of an item commit in order.
                with locks[item]:
                    version = acked[item] + 1
                    response = own.patch(f"{BASE}/api/items/{item}", json={"name": f"v{version}"},
                                         timeout=10)  # fmt: skip
                    assert response.status_code == 200, response.text
                    acked[item] = version

    def read(index: int) -> None:
        with new_session(retry_on_429=False) as own:
            while not done.is_set():
                item = items[index % len(items)]
                floor = acked[item]  # acknowledged before this read began
                body = own.get(f"{BASE}/api/items/{item}", timeout=10).json()
                seen = int(body["name"][1:])
                if seen < floor:
                    stale.append(f"item {item}: read v{seen} after v{floor} was acknowledged")
                index += 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=WRITERS + READERS) as pool:
        readers = [pool.submit(read, i) for i in range(READERS)]
        writers = [pool.submit(write, i) for i in range(WRITERS)]
        for future in writers:
            future.result()
        done.set()
        for future in readers:
            future.result()
    assert sum(acked.values()) == WRITERS * ROUNDS
    assert not stale, stale[:5]
    for item in items:
        assert session.get(f"{BASE}/api/items/{item}", timeout=10).json()["name"] == (
            f"v{acked[item]}"
        )


@pytest.mark.exclusive
def test_after_a_redis_outage_every_worker_serves_the_writes_it_missed(http):
    workers = len(gunicorn_processes()[1])
    created = http.post(f"{BASE}/api/items", json={"name": "before the outage"}, timeout=10)
    url = created.headers["Location"]
    for _ in range(4 * workers):  # cached, and read through every worker
        assert http.get(url, timeout=10).json()["name"] == "before the outage"
    compose("pause", "redis")
    try:
        # Redis holds the entry but cannot take the invalidation: it is recorded in Postgres.
        patched = http.patch(url, json={"name": "during the outage"}, timeout=20)
        assert patched.status_code == 200
    finally:
        compose("unpause", "redis")
        wait_healthy("redis")
    time.sleep(1.5)  # CACHE_REPAIR_SECONDS (1 s): every process has looked by now
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        names = set(pool.map(lambda _: new_session().get(url, timeout=10).json()["name"],
                             range(40)))  # fmt: skip
    assert names == {"during the outage"}


def test_a_pickle_written_into_redis_is_never_executed(http):
    created = http.post(f"{BASE}/api/items", json={"name": "the real row"}, timeout=10)
    item_url = created.headers["Location"]
    marker = f"/tmp/pwned-{uuid.uuid4().hex[:8]}"

    class Exploit:
        def __reduce__(self) -> tuple[object, ...]:
            import os

            return (os.system, (f"touch {marker}",))

    prefix = compose_config()["services"]["app"]["environment"]["CACHE_KEY_PREFIX"]
    key = f"{prefix}item:{created.json()['id']}"
    # Written as anyone who can write the app's keys could: with the app's own Redis user.
    auth = 'REDISCLI_AUTH="$(cat /run/secrets/redis_app_password)" exec redis-cli "$@"'
    subprocess.run(
        [str(COMPOSE_SH), "exec", "-T", "redis", "sh", "-c", auth, "redis-cli",
         "--no-auth-warning", "--user", "app", "-x", "SET", key],
        cwd=ROOT, input=pickle.dumps(Exploit()), check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    request_id = f"pickle-{uuid.uuid4().hex}"
    read = http.get(item_url, headers={"X-Request-ID": request_id}, timeout=10)
    assert read.status_code == 200 and read.json()["name"] == "the real row"
    executed = compose("exec", "-T", "app", "sh", "-c", f"test -e {marker}", check=False)
    assert executed.returncode != 0, "the pickle was executed"

    def logged() -> bool:
        return any(
            line.get("request_id") == request_id and "not JSON" in line.get("message", "")
            for line in json_log_lines("app", "2m")
        )

    wait_for(logged, 10, 0.5, "the warning about the foreign entry")
