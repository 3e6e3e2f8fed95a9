"""Property: any JSON body sent to POST /api/items gets a JSON 201 or 4xx, never a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings, strategies as st

pytestmark = pytest.mark.unit

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Bodies near the valid shape find more edge cases than arbitrary JSON alone.
item_like = st.fixed_dictionaries(
    {"name": json_values | st.text(max_size=250)},
    optional={"description": json_values | st.text(max_size=2100), "extra": json_values},
)


# One app and database for every example, as before: the rows of earlier examples stay.
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=json_values | item_like)
def test_any_json_body_gives_201_or_a_json_4xx(client: FlaskClient, body: Any) -> None:
    response = client.post("/api/items", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201 or 400 <= response.status_code < 500
    assert response.is_json
    if response.status_code != 201:
        assert set(response.get_json()["error"]) >= {"code", "message"}
