"""The generated body checks the function runs instead of pydantic: fresh, and never more lenient than the
models they were compiled from (a body they accept must be one the model accepts, with the same values)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from handler._http import matches_schema
from handler._request_validators import validate_create_item_request, validate_update_item_request
from handler._rules import parse_year
from handler.models import CreateItemRequest, UpdateItemRequest
from tools.request_validators import render

GENERATED = Path(__file__).resolve().parents[2] / "handler" / "_request_validators.py"

years = (
    st.integers(min_value=900, max_value=10_050)
    | st.text(st.sampled_from("0123456789 \n+-."), max_size=6)
    | st.booleans()
    | st.floats(min_value=900, max_value=10_050)
    | st.none()
)
ids = st.text(st.sampled_from("Aa0_-é/ \n"), max_size=70) | st.integers() | st.none()
titles = st.text(max_size=260) | st.integers() | st.none()
bodies = st.fixed_dictionaries(
    {}, optional={"id": ids, "year": years, "title": titles, "extra": st.integers()}
) | st.one_of(st.none(), st.lists(st.integers(), max_size=2), st.text(max_size=5))


def test_committed_validators_are_fresh():
    assert GENERATED.read_text() == render(), "handler/_request_validators.py is stale: run `make validators`"


@settings(max_examples=400, deadline=None)
@given(body=bodies)
def test_a_create_body_the_check_accepts_is_one_the_model_accepts_with_the_same_values(body: Any):
    if matches_schema(validate_create_item_request, body):
        model = CreateItemRequest.model_validate(body)
        assert (model.id, model.year, model.title) == (body["id"], parse_year(body["year"]), body["title"])


@settings(max_examples=400, deadline=None)
@given(body=bodies)
def test_an_update_body_the_check_accepts_is_one_the_model_accepts_with_the_same_values(body: Any):
    if matches_schema(validate_update_item_request, body):
        model = UpdateItemRequest.model_validate(body)
        expected_year = parse_year(body["year"]) if "year" in body else None
        assert (model.year, model.title) == (expected_year, body.get("title"))


@pytest.mark.parametrize(
    "body",
    [
        {"id": "abc", "year": "2012", "title": "The Amazing Spider-Man 2"},
        {"id": "abc", "year": 2012, "title": "t"},
    ],
)
def test_the_check_accepts_valid_create_bodies(body: dict[str, Any]):
    assert matches_schema(validate_create_item_request, body)
    CreateItemRequest.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "abc\n", "year": "2012", "title": "t"},
        {"id": "abc", "year": "2012\n", "title": "t"},
        {"id": "abc", "year": True, "title": "t"},
        {"id": "abc", "year": 2012.0, "title": "t"},
        {"id": "abc", "year": "0999", "title": "t"},
        {"id": "abc", "year": "2012", "title": ""},
        {"id": "abc", "year": "2012", "title": "t", "extra": 1},
        {"id": "abc", "year": "2012"},
    ],
)
def test_the_check_rejects_what_the_model_rejects(body: dict[str, Any]):
    assert not matches_schema(validate_create_item_request, body)
    with pytest.raises(ValidationError):
        CreateItemRequest.model_validate(body)
