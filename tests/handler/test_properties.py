"""Property-based checks of the body handling: no JSON body can make the function fail, and every valid
body round-trips through DynamoDB unchanged."""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# Bodies near the valid shape find more edge cases than arbitrary JSON alone.
near_valid_bodies = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=70) | st.integers(),
        "year": st.integers(min_value=-10, max_value=100_000) | st.text(max_size=6) | st.booleans(),
        "title": st.text(max_size=300) | st.none(),
        "extra": json_values,
    },
)
id_alphabet = st.sampled_from("ABCXYZabcxyz0189_-")
valid_bodies = st.fixed_dictionaries(
    {
        "suffix": st.text(id_alphabet, max_size=31),
        "year": st.integers(min_value=1000, max_value=9999).flatmap(lambda y: st.sampled_from([y, str(y)])),
        "title": st.text(min_size=1, max_size=256),
    }
)


@_SETTINGS
@given(body=json_values | near_valid_bodies)
def test_any_json_body_never_causes_a_server_error(invoke, build_event, body):
    result = invoke(build_event("POST", "/items", body=body))

    assert result.status in (201, 400, 409, 413)


@_SETTINGS
@given(text=st.text(max_size=200))
def test_any_text_body_never_causes_a_server_error(invoke, build_event, text):
    assert invoke(build_event("POST", "/items", raw_body=text)).status < 500


@_SETTINGS
@given(fields=valid_bodies)
def test_valid_bodies_round_trip(invoke, build_event, fields):
    # The id is made unique per example so examples (and hypothesis' replays) never collide.
    item_id = f"{uuid.uuid4().hex}{fields['suffix']}"
    body = {"id": item_id, "year": fields["year"], "title": fields["title"]}

    created = invoke(build_event("POST", "/items", raw_body=json.dumps(body)))
    read = invoke(build_event("GET", f"/items/{item_id}"))

    assert created.status == 201
    assert read.body == {"id": item_id, "year": int(fields["year"]), "title": fields["title"]}
