"""Bad input through the edge: property-based requests get documented JSON answers, never 5xx."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.support.edge import BASE, new_session

DOCUMENTED = {200, 201, 204, 400, 404, 405, 413, 415, 422, 429}
SESSION = new_session()
FIELDS = ["name", "description", "id", "created_at", "extra", ""]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
bodies = (
    st.dictionaries(
        st.sampled_from(FIELDS) | st.text(max_size=12),
        json_values | st.text(min_size=0, max_size=300),
        max_size=4,
    )
    | json_values
)

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)


def assert_documented(response) -> None:
    assert response.status_code in DOCUMENTED, (response.status_code, response.text[:300])
    if response.status_code == 204:
        return
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    body = response.json()
    if response.status_code >= 400:
        assert set(body) == {"error"}
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert "Traceback" not in response.text


@FUZZ
@given(body=bodies)
def test_any_json_body_posted_gets_a_documented_answer(body):
    response = SESSION.post(f"{BASE}/api/items", data=json.dumps(body),
                            headers={"Content-Type": "application/json"}, timeout=15)  # fmt: skip
    assert_documented(response)
    if response.status_code == 201:
        SESSION.delete(response.headers["Location"], timeout=15)


@FUZZ
@given(body=bodies, item_id=st.integers(min_value=-(2**70), max_value=2**70))
def test_any_patch_gets_a_documented_answer(body, item_id):
    response = SESSION.patch(f"{BASE}/api/items/{item_id}", data=json.dumps(body),
                             headers={"Content-Type": "application/json"}, timeout=15)  # fmt: skip
    assert_documented(response)


@FUZZ
@given(
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        ["application/json", "application/json; charset=latin-1", "text/plain", "", "text/csv"]
    ),
)
def test_arbitrary_bytes_get_a_documented_answer(raw, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = SESSION.post(f"{BASE}/api/items", data=raw, headers=headers, timeout=15)
    assert_documented(response)


@FUZZ
@given(
    limit=st.text(max_size=6) | st.integers().map(str),
    offset=st.text(max_size=6) | st.integers().map(str),
    method=st.sampled_from(["GET", "PUT", "DELETE", "OPTIONS", "HEAD"]),
)
def test_any_query_or_method_on_the_list_gets_a_documented_answer(limit, offset, method):
    response = SESSION.request(method, f"{BASE}/api/items",
                               params={"limit": limit, "offset": offset}, timeout=15)  # fmt: skip
    if method in {"HEAD", "OPTIONS"}:
        assert response.status_code < 500
        return
    assert_documented(response)
