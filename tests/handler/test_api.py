"""The HTTP contract of the README's API table, end to end through lambda_handler against DynamoDB Local."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from handler._rules import MAX_YEAR, MIN_YEAR
from handler.models import ErrorResponse, Item, ItemList

from .conftest import load_event, scan_all

SEED_BODY = {"year": "2023", "title": "kkkg", "id": "12"}


def test_seed_request_to_root_stores_the_item_and_answers_the_seeds_message(invoke, build_event, items_table):
    # GIVEN the seeds' exact request, as API Gateway delivers it
    event = load_event("seed_post_root.json")

    # WHEN it is handled
    result = invoke(event)

    # THEN it answers as the seeds document it
    assert result.status == 201
    assert result.body == {"message": "Successfully inserted data!"}
    # AND the item reads back through the canonical route, year as an integer
    read = invoke(load_event("get_item.json"))
    assert read.status == 200
    assert read.body == {"id": "12", "year": 2023, "title": "kkkg"}


def test_create_stores_the_year_as_a_dynamodb_number(invoke, build_event, items_table, dynamodb_client):
    invoke(build_event("POST", "/items", body=SEED_BODY))

    stored = dynamodb_client.get_item(TableName=items_table, Key={"id": {"S": "12"}})["Item"]

    assert stored["year"] == {"N": "2023"}


def test_create_on_items_route_answers_201_with_location(invoke, build_event, new_id):
    event = build_event("POST", "/items", body={"id": new_id, "year": 1999, "title": "t"})

    result = invoke(event)

    assert result.status == 201
    assert result.body == {"message": "Successfully inserted data!"}
    # Resolved against the URL the client called, as clients do (RFC 9110 10.2.2): the item, within the stage.
    context = event["requestContext"]
    called = f"https://{context['domainName']}{context['path']}"
    assert (
        urljoin(called, result.headers["location"])
        == f"https://{context['domainName']}/{context['stage']}/items/{new_id}"
    )


@pytest.mark.parametrize("year", [MIN_YEAR, MAX_YEAR])
def test_create_accepts_the_first_and_last_four_digit_years_as_integers(invoke, build_event, new_id, year):
    created = invoke(build_event("POST", "/items", body={"id": new_id, "year": year, "title": "t"}))

    assert created.status == 201
    assert invoke(build_event("GET", f"/items/{new_id}")).body["year"] == year


def test_repeated_identical_create_succeeds_again_and_stores_one_item(
    invoke, build_event, items_table, dynamodb_client
):
    body = {"id": "same", "year": "2001", "title": "retry"}

    first = invoke(build_event("POST", "/items", body=body))
    # The retry may spell the year as a number: the content is the same.
    second = invoke(build_event("POST", "/items", body={**body, "year": 2001}))

    assert (first.status, second.status) == (201, 201)
    assert len(scan_all(dynamodb_client, items_table)) == 1


def test_create_with_existing_id_and_other_content_is_409_and_keeps_the_original(
    invoke, build_event, items_table, dynamodb_client
):
    invoke(build_event("POST", "/items", body={"id": "taken", "year": "2001", "title": "first"}))

    result = invoke(build_event("POST", "/items", body={"id": "taken", "year": "2001", "title": "second"}))

    assert result.status == 409
    assert result.body["request_id"] == result.request_id
    assert invoke(build_event("GET", "/items/taken")).body["title"] == "first"


def test_get_absent_item_is_404(invoke, build_event, new_id):
    result = invoke(build_event("GET", f"/items/{new_id}", content_type=None))

    assert result.status == 404
    assert result.body == {"message": "Not found", "request_id": result.request_id}


def test_put_changes_the_given_fields_and_returns_the_item(invoke, build_event, new_id):
    invoke(build_event("POST", "/items", body={"id": new_id, "year": "2001", "title": "old"}))

    result = invoke(build_event("PUT", f"/items/{new_id}", body={"title": "new"}))

    assert result.status == 200
    assert result.body == {"id": new_id, "year": 2001, "title": "new"}
    assert invoke(build_event("GET", f"/items/{new_id}")).body == result.body


def test_put_of_a_new_year_lists_the_item_under_that_year_only(invoke, build_event, items_table):
    invoke(build_event("POST", "/items", body={"id": "moved", "year": 2001, "title": "t"}))

    result = invoke(build_event("PUT", "/items/moved", body={"year": 1999}))

    assert result.body == {"id": "moved", "year": 1999, "title": "t"}
    listed = {
        year: invoke(build_event("GET", "/items", query={"year": year})).body["items"] for year in ("1999", "2001")
    }
    assert listed == {"1999": [result.body], "2001": []}


def test_put_on_absent_item_is_404_and_creates_nothing(invoke, build_event, items_table, dynamodb_client):
    result = invoke(build_event("PUT", "/items/ghost", body={"title": "new", "year": 2020}))

    assert result.status == 404
    assert scan_all(dynamodb_client, items_table) == []


def test_delete_answers_204_and_the_item_is_gone(invoke, build_event, new_id):
    invoke(build_event("POST", "/items", body={"id": new_id, "year": "2001", "title": "t"}))

    result = invoke(build_event("DELETE", f"/items/{new_id}", content_type=None))

    assert result.status == 204
    assert result.body is None
    # No content, so nothing for a Content-Type to describe.
    assert "content-type" not in result.headers
    assert invoke(build_event("GET", f"/items/{new_id}")).status == 404


def test_delete_of_absent_item_is_404(invoke, build_event, new_id):
    assert invoke(build_event("DELETE", f"/items/{new_id}")).status == 404


def _create_year(invoke, build_event, year: int, ids: list[str]) -> None:
    for item_id in ids:
        body = {"id": item_id, "year": year, "title": item_id}
        assert invoke(build_event("POST", "/items", body=body)).status == 201


def test_list_pages_through_one_year_in_id_order_with_cursors(invoke, build_event, items_table):
    # GIVEN five items of 2020 and one of another year
    ids = ["e", "a", "d", "b", "c"]
    _create_year(invoke, build_event, 2020, ids)
    _create_year(invoke, build_event, 2021, ["other-year"])

    # WHEN the client follows next_cursor with pages of two
    pages, cursor = [], None
    while True:
        query = {"year": "2020", "limit": "2", **({"cursor": cursor} if cursor else {})}
        result = invoke(build_event("GET", "/items", query=query, content_type=None))
        assert result.status == 200
        pages.append([item["id"] for item in result.body["items"]])
        cursor = result.body["next_cursor"]
        if cursor is None:
            break

    # THEN it sees every item of that year exactly once, in id order, two at a time
    assert pages == [["a", "b"], ["c", "d"], ["e"]]


def test_list_body_matches_the_item_list_model(invoke, build_event, items_table):
    _create_year(invoke, build_event, 2020, ["a"])

    body = invoke(build_event("GET", "/items", query={"year": "2020"})).body

    assert ItemList.model_validate(body).model_dump() == body
    assert body == {"items": [{"id": "a", "year": 2020, "title": "a"}], "next_cursor": None}


def test_list_uses_the_year_index_and_never_scans(invoke, build_event, items_table, on_dynamodb_call):
    calls: list[tuple[str, dict]] = []
    on_dynamodb_call("*", lambda model, params, **_: calls.append((model.name, params)))

    invoke(build_event("GET", "/items", query={"year": "2020"}))

    operations = [name for name, _ in calls]
    assert "Scan" not in operations
    assert [params["IndexName"] for name, params in calls if name == "Query"] == ["year-index"]

    assert "Scan" not in operations
    assert "Query" in operations


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "year"),
        ({"year": "20"}, "year"),
        ({"year": "2020", "limit": "0"}, "limit"),
        ({"year": "2020", "limit": "101"}, "limit"),
        ({"year": "2020", "limit": "many"}, "limit"),
        ({"year": "2020", "sort": "id"}, "sort"),
    ],
)
def test_list_with_invalid_query_is_400_naming_the_parameter(invoke, build_event, query, field):
    result = invoke(build_event("GET", "/items", query=query or None))

    assert result.status == 400
    assert field in [error["field"] for error in result.body["errors"]]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64-json!",
        "e30",  # {}
        "eyJpZCI6ImEiLCJ5ZWFyIjoyMDIxfQ",  # {"id":"a","year":2021}: another year's position
        "eyJpZCI6ImEgYiIsInllYXIiOjIwMjB9",  # {"id":"a b","year":2020}: not an id
        "eyJpZCI6ImEiLCJ5ZWFyIjoiMjAyMCJ9",  # {"id":"a","year":"2020"}: year as text
        "eyJpZCI6ImEiLCJ5ZWFyIjoyMDIwLjB9",  # {"id":"a","year":2020.0}: year as a float
        "eyJpZCI6MSwieWVhciI6MjAyMH0",  # {"id":1,"year":2020}: id as a number
        "eyJpZCI6ImEiLCJ5ZWFyIjoyMDIwLCJ4IjoxfQ",  # {"id":"a","year":2020,"x":1}: a field too many
        "W10",  # []: JSON, but not an object
        "aGVsbG8",  # "hello": base64, but not JSON
    ],
)
def test_list_with_bad_or_tampered_cursor_is_400(invoke, build_event, items_table, cursor):
    result = invoke(build_event("GET", "/items", query={"year": "2020", "cursor": cursor}))

    assert result.status == 400
    assert "cursor" in result.body["message"].lower()


def test_error_bodies_match_the_error_response_model(invoke, build_event):
    body = invoke(build_event("POST", "/items", body={"id": "x"})).body

    assert ErrorResponse.model_validate(body).model_dump(exclude_none=True) == body


def test_errors_without_field_problems_carry_no_errors_list(invoke, build_event):
    # ErrorResponse.errors is present for field problems only.
    body = invoke(build_event("POST", "/items", raw_body="{")).body

    assert set(body) == {"message", "request_id"}


def test_item_bodies_match_the_item_model(invoke, build_event, new_id):
    invoke(build_event("POST", "/items", body={"id": new_id, "year": "2001", "title": "t"}))

    body = invoke(build_event("GET", f"/items/{new_id}")).body

    assert Item.model_validate(body).model_dump() == body
