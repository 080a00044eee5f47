"""The gateway's decisions in AWS's order, from a stack's settings and the deployed API's own definition."""

from __future__ import annotations

import json
import math

import pytest

from components.api import api_definition
from components.settings import load_settings
from handler.contract import ROUTES
from handler.models import gateway_request_schemas
from local.gateway import (
    AWS_DEFAULT_TEMPLATE,
    BAD_REQUEST_BODY,
    INVALID_API_KEY,
    LAMBDA_THROTTLED,
    MISSING_AUTHENTICATION_TOKEN,
    QUOTA_EXCEEDED,
    REQUEST_TOO_LARGE,
    THROTTLED,
    UNKNOWN_STAGE,
    WAF_FILTERED,
    Admitted,
    ApiKey,
    Gateway,
    IncomingRequest,
    Rejected,
)
from tests.local.test_limits import FakeClock

SEED = json.dumps({"year": "2023", "title": "kkkg", "id": "12"}).encode()
DEFINITION = api_definition(ROUTES, gateway_request_schemas(), "fn")


@pytest.fixture
def settings(stack_config):
    config = stack_config("dev")
    config["tiered-api:apiGateway"]["stageName"] = "dev"
    config["tiered-api:apiGateway"]["throttle"] = {"rateLimit": 10, "burstLimit": 20}
    config["tiered-api:plans"]["standard"] = {
        "throttle": {"rateLimit": 1, "burstLimit": 3},
        "quota": {"limit": 5, "period": "DAY"},
    }
    config["tiered-api:waf"] = {"rateLimit": 10, "windowSeconds": 60}
    return load_settings("dev", config)


KEY = ApiKey(consumer="standard-client", plan="standard", id="abcdefghij", value="v" * 40)
OTHER = ApiKey(consumer="premium-client", plan="premium", id="bcdefghijk", value="w" * 40)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def gateway(settings, clock):
    return Gateway(settings, {k.consumer: k for k in (KEY, OTHER)}, DEFINITION, clock)


def request(path="/dev/", method="POST", key=KEY.value, ip="198.51.100.1", body=SEED, query="", headers=None):
    all_headers = {"content-type": "application/json", **(headers or {})}
    if key is not None:
        all_headers["x-api-key"] = key
    return IncomingRequest(method, path, query, all_headers, ip, body)


def test_a_valid_request_is_admitted_with_its_resource_and_key(gateway):
    admitted = gateway.admit(request(path="/dev/items/12", method="GET", body=b""))
    assert admitted == Admitted("GET", "/items/{id}", "/items/12", {"id": "12"}, KEY)


@pytest.mark.parametrize(
    ("method", "path", "resource"), [("GET", "/dev/items/12/", "/items/{id}"), ("POST", "/dev/items/", "/items")]
)
def test_a_trailing_slash_reaches_the_method_of_its_resource_and_the_path_stays_as_called(
    gateway, method, path, resource
):
    admitted = gateway.admit(request(method=method, path=path, body=SEED if method == "POST" else b""))
    assert isinstance(admitted, Admitted)
    assert (admitted.resource_path, admitted.path) == (resource, path.removeprefix("/dev"))


def test_the_stage_path_without_a_slash_reaches_the_root_resource(gateway):
    # The stage's invoke URL itself (https://{api}.execute-api.{region}.amazonaws.com/dev) calls the root resource.
    assert gateway.admit(request(path="/dev")) == Admitted("POST", "/", "/", {}, KEY)


def test_waf_decides_before_anything_else(gateway):
    for _ in range(10):
        gateway.admit(request(key=None, path="/elsewhere"))
    assert gateway.admit(request()) == Rejected(WAF_FILTERED)


@pytest.mark.parametrize("path", ["/prod/", "/devX/items"])
def test_a_path_outside_the_stage_is_forbidden(gateway, path):
    assert gateway.admit(request(path=path)) == Rejected(UNKNOWN_STAGE)


def test_an_unknown_method_is_missing_authentication_token_even_with_a_key(gateway):
    assert gateway.admit(request(method="PATCH", path="/dev/items/12")) == Rejected(MISSING_AUTHENTICATION_TOKEN)


def test_a_missing_key_is_forbidden(gateway):
    assert gateway.admit(request(key=None)) == Rejected(INVALID_API_KEY)


def test_a_throttled_request_does_not_spend_quota(gateway, clock):
    # burst 3, quota 5: three admitted, two throttled; once the bucket refills, the quota still has two left
    decisions = [gateway.admit(request()) for _ in range(5)]
    clock.advance(3)
    later = [gateway.admit(request()) for _ in range(3)]
    assert [d == Rejected(THROTTLED, KEY) for d in decisions] == [False, False, False, True, True]
    assert [isinstance(d, Admitted) for d in later[:2]] == [True, True]
    assert later[2] == Rejected(QUOTA_EXCEEDED, KEY)


def gateway_with_premium_keys(settings, clock, requests):
    """A gateway with enough premium keys that ``requests`` spread over them never empty a key's own bucket, and
    those keys."""
    count = math.ceil(requests / settings.plans["premium"].throttle.burst_limit) + 1
    keys = [ApiKey(f"c{n}", "premium", f"id{n:08d}", f"{n}" * 40) for n in range(count)]
    return Gateway(settings, {key.consumer: key for key in keys}, DEFINITION, clock), keys


def send(gateway, keys, calls):
    """Each (method, path, query, body) once, keys in turn, the IP from the position (WAF out of the way)."""
    return [
        gateway.admit(
            request(
                path=f"/dev{path}",
                method=method,
                query=query,
                body=body,
                key=keys[n % len(keys)].value,
                ip=f"198.51.{n // 250}.{n % 250 + 1}",
            )
        )
        for n, (method, path, query, body) in enumerate(calls)
    ]


def test_a_methods_stage_bucket_is_shared_by_every_key(settings, clock):
    # GIVEN more keys than one stage bucket can serve, each with a full bucket of its own
    stage_burst = settings.api_gateway.throttle.burst_limit
    attempts = 2 * stage_burst
    gateway, keys = gateway_with_premium_keys(settings, clock, attempts)
    # WHEN they all call one method at once THEN together they get the stage's burst
    decisions = send(gateway, keys, [("POST", "/", "", SEED)] * attempts)
    assert sum(isinstance(d, Admitted) for d in decisions) == stage_burst
    # send() calls with the keys in turn: each refusal names the key that was refused.
    callers = [keys[n % len(keys)] for n in range(attempts)]
    refused = [(d, key) for d, key in zip(decisions, callers, strict=True) if not isinstance(d, Admitted)]
    assert all(d == Rejected(THROTTLED, key) for d, key in refused)


ITEM = json.dumps({"title": "kkkg"}).encode()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("GET", "/items/a", "", b""), ("PUT", "/items/a", "", ITEM)),  # one resource, two HTTP methods
        (("GET", "/items", "year=2023", b""), ("GET", "/items/a", "", b"")),  # one HTTP method, two resources
    ],
    ids=["http-method", "resource"],
)
def test_each_method_gets_the_full_stage_burst(settings, clock, first, second):
    # GIVEN keys whose own buckets are out of the way, and two methods of the stage
    stage_burst = settings.api_gateway.throttle.burst_limit
    attempts = stage_burst + 5
    gateway, keys = gateway_with_premium_keys(settings, clock, 2 * attempts)
    # WHEN both methods are called past the stage's burst, interleaved
    decisions = send(gateway, keys, [first, second] * attempts)
    # THEN each admits a full stage burst: API Gateway's `*/*` throttle is a bucket per method, not per stage
    assert sum(isinstance(d, Admitted) for d in decisions[0::2]) == stage_burst
    assert sum(isinstance(d, Admitted) for d in decisions[1::2]) == stage_burst


def test_concrete_paths_of_one_resource_share_its_bucket(settings, clock):
    # GIVEN two items behind the one resource GET /items/{id}
    stage_burst = settings.api_gateway.throttle.burst_limit
    attempts = stage_burst + 5
    gateway, keys = gateway_with_premium_keys(settings, clock, 2 * attempts)
    # WHEN both paths are called past the stage's burst THEN together they get one burst
    decisions = send(gateway, keys, [("GET", "/items/a", "", b""), ("GET", "/items/b", "", b"")] * attempts)
    admitted = [d for d in decisions if isinstance(d, Admitted)]
    assert len(admitted) == stage_burst
    assert {d.path for d in admitted} == {"/items/a", "/items/b"}
    # and the bucket refills at the stage's rate: one second later, `rate` more of either path
    clock.advance(1)
    later = send(gateway, keys, [("GET", "/items/b", "", b"")] * (stage_burst + 5))
    assert sum(isinstance(d, Admitted) for d in later) == settings.api_gateway.throttle.rate_limit


def test_a_body_against_the_model_is_rejected_after_throttling(gateway):
    assert gateway.admit(request(body=b'{"id": "12"}')) == Rejected(BAD_REQUEST_BODY, KEY)


def test_a_body_that_is_not_json_is_rejected(gateway):
    assert gateway.admit(request(body=b"{not json")) == Rejected(BAD_REQUEST_BODY, KEY)


def test_a_body_without_a_content_type_is_validated_as_json(gateway):
    # API Gateway takes a request without Content-Type as application/json, the type the model is mapped to.
    without_content_type = request(body=b'{"id": "12"}')
    del without_content_type.headers["content-type"]
    assert gateway.admit(without_content_type) == Rejected(BAD_REQUEST_BODY, KEY)


def test_a_media_type_is_matched_whatever_its_case(gateway):
    decision = gateway.admit(request(body=b'{"id": "12"}', headers={"content-type": "Application/JSON"}))
    assert decision == Rejected(BAD_REQUEST_BODY, KEY)


def test_a_body_of_another_media_type_passes_through_to_the_function(gateway):
    admitted = gateway.admit(request(body=b"year=2023", headers={"content-type": "text/plain"}))
    assert isinstance(admitted, Admitted)


def test_a_missing_required_query_parameter_is_named(gateway):
    decision = gateway.admit(request(method="GET", path="/dev/items", body=b"", query="limit=3"))
    assert isinstance(decision, Rejected)
    assert (decision.answer.status, decision.answer.message) == (400, "Missing required request parameters: [year]")
    assert decision.api_key == KEY


@pytest.mark.parametrize("query", ["year=", "year", "year=&limit=3"])
def test_a_blank_required_query_parameter_counts_as_missing(gateway, query):
    decision = gateway.admit(request(method="GET", path="/dev/items", body=b"", query=query))
    assert isinstance(decision, Rejected)
    assert (decision.answer.status, decision.answer.message) == (400, "Missing required request parameters: [year]")


def test_a_listed_response_type_uses_the_stages_template(gateway):
    assert gateway.template(THROTTLED) == DEFINITION["gatewayResponses"]["THROTTLED"]["template"]


def test_an_unlisted_response_type_falls_back_to_its_default_family(gateway):
    assert gateway.template(WAF_FILTERED) == DEFINITION["gatewayResponses"]["DEFAULT_4XX"]["template"]
    assert gateway.template(LAMBDA_THROTTLED) == DEFINITION["gatewayResponses"]["DEFAULT_5XX"]["template"]


@pytest.mark.parametrize(
    ("answer", "response_type"),
    [(THROTTLED, "THROTTLED"), (WAF_FILTERED, "DEFAULT_4XX")],
    ids=["listed-type", "unlisted-type"],
)
def test_an_answer_takes_its_own_types_template_else_its_familys(settings, answer, response_type):
    # The stack's templates are all alike; one template per type shows which one an answer takes.
    distinct = {name: {**response, "template": name} for name, response in DEFINITION["gatewayResponses"].items()}
    gateway = Gateway(settings, {}, {**DEFINITION, "gatewayResponses": distinct})
    assert gateway.template(answer) == response_type


def test_a_request_too_large_keeps_aws_body_whatever_the_stage_customises(settings):
    # AWS does not support customising REQUEST_TOO_LARGE: neither its own entry nor DEFAULT_4XX changes its body.
    own = {"statusCode": "413", "template": '{"custom": true}'}
    gateway = Gateway(
        settings, {}, {**DEFINITION, "gatewayResponses": {**DEFINITION["gatewayResponses"], "REQUEST_TOO_LARGE": own}}
    )
    assert DEFINITION["gatewayResponses"]["DEFAULT_4XX"]["template"] != AWS_DEFAULT_TEMPLATE
    assert gateway.template(REQUEST_TOO_LARGE) == AWS_DEFAULT_TEMPLATE


def test_without_customised_responses_aws_default_body_is_used(settings):
    gateway = Gateway(settings, {}, {**DEFINITION, "gatewayResponses": {}})
    assert gateway.template(QUOTA_EXCEEDED) == AWS_DEFAULT_TEMPLATE
