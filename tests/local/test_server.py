"""End to end over HTTP against one local stack: the seeds' flow, per-tier throttling, quotas, WAF, warm starts.

Every test uses its own consumer (own key, own buckets) and its own source address (own WAF counter), so
they share one server without interfering. Failures of the function that the real handler never produces are
driven through ``LocalApi`` in this process, in front of a pool of stand-in handlers.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import re
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import pytest

from components.api import access_log_format
from components.settings import load_settings
from local.access_log import fill
from local.dynamodb_local import LONG_LIVED_JVM_OPTIONS
from local.gateway import Gateway
from local.lambda_pool import LambdaPool
from local.server import MAX_PAYLOAD_BYTES, LocalApi, Reply, main
from tests.local.conftest import (
    APP_RATE_LIMIT_OUT_OF_THE_WAY,
    SEED_BODY,
    Answer,
    LocalServer,
    dev_config,
    free_port,
    plan,
    server_command,
)
from tests.local.test_gateway import DEFINITION, KEY
from tests.local.test_lambda_pool import config as function_config

STANDARD = plan(rate=1, burst=4)
PREMIUM = plan(rate=2, burst=8)
WAF_LIMIT = 30


@pytest.fixture(scope="module")
def server(server_factory) -> LocalServer:
    config = dev_config(
        apiGateway={"stageName": "e2e", "throttle": {"rateLimit": 100, "burstLimit": 200}},
        plans={"standard": STANDARD, "premium": PREMIUM, "metered": plan(10, 20, quota=3), "roomy": plan(50, 100)},
        consumers={
            "standard-client": {"plan": "standard"},
            "premium-client": {"plan": "premium"},
            "standard-rival": {"plan": "standard"},
            "premium-rival": {"plan": "premium"},
            "standard-chatty": {"plan": "standard"},
            "standard-logged": {"plan": "standard"},
            "metered-client": {"plan": "metered"},
            "seeds-client": {"plan": "roomy"},
            "waf-client": {"plan": "roomy"},
            "warm-client": {"plan": "roomy"},
        },
        waf={"rateLimit": WAF_LIMIT, "windowSeconds": 60},
        appRateLimit=APP_RATE_LIMIT_OUT_OF_THE_WAY,
    )
    config["tiered-api:lambda"]["reservedConcurrency"] = 2
    return server_factory(config)


def burst(server: LocalServer, consumer: str, count: int, source_ip: str) -> tuple[list[int], float]:
    """``count`` requests one after another as fast as they are answered; statuses and seconds taken."""
    started = time.monotonic()
    statuses = [
        server.request("POST", "/items", {**SEED_BODY, "id": f"{consumer}-{n}"}, server.key(consumer), source_ip).status
        for n in range(count)
    ]
    return statuses, time.monotonic() - started


def access_log_entries(server: LocalServer) -> list[dict[str, str]]:
    return [json.loads(line) for line in (server.state_dir / "dev-access.log").read_text().splitlines()]


def test_the_url_carries_the_stage_name(server):
    assert server.url == f"http://127.0.0.1:{server.port}/e2e"


def test_the_stacks_dynamodb_local_runs_the_full_jit_as_a_server_for_a_whole_session(server):
    command_line = Path(f"/proc/{server.state['dynamodb_local']['pid']}/cmdline").read_bytes().split(b"\0")

    assert [option.decode() for option in command_line if option.startswith(b"-XX:")] == list(LONG_LIVED_JVM_OPTIONS)


def test_the_seeds_request_without_a_key_is_forbidden(server):
    answer = server.request("POST", "/", SEED_BODY, source_ip="127.0.1.1")
    assert (answer.status, answer.message) == (403, "Forbidden")


def test_the_seeds_request_with_a_wrong_key_is_forbidden(server):
    answer = server.request("POST", "/", SEED_BODY, key="not-a-key", source_ip="127.0.1.1")
    assert (answer.status, answer.message) == (403, "Forbidden")


def test_the_seeds_request_with_a_key_creates_the_item_and_it_reads_back(server):
    created = server.request("POST", "/", SEED_BODY, server.key("seeds-client"), "127.0.1.2")
    read = server.request("GET", "/items/12", key=server.key("seeds-client"), source_ip="127.0.1.2")
    assert (created.status, created.json) == (201, {"message": "Successfully inserted data!"})
    assert (read.status, read.json) == (200, {"id": "12", "year": 2023, "title": "kkkg"})


def test_a_created_items_location_resolves_to_the_item_within_the_stage(server):
    created = server.request("POST", "/items", {**SEED_BODY, "id": "located"}, server.key("seeds-client"), "127.0.1.5")
    location = urljoin(f"{server.url}/items", created.headers["location"])
    assert (created.status, location) == (201, f"{server.url}/items/located")


def test_the_state_file_holding_the_api_keys_is_readable_by_its_owner_only(server):
    assert stat.S_IMODE((server.state_dir / "dev.json").stat().st_mode) == 0o600


def test_an_answer_without_a_content_type_gets_api_gateways_default_even_a_204(server):
    # The function's 204 names no Content-Type; a REST API proxy integration then answers application/json.
    key = server.key("seeds-client")
    server.request("POST", "/items", {**SEED_BODY, "id": "deleted"}, key, "127.0.1.6")
    deleted = server.request("DELETE", "/items/deleted", key=key, source_ip="127.0.1.6")
    assert (deleted.status, deleted.headers["content-type"], deleted.body) == (204, "application/json", b"")


def test_a_route_api_gateway_does_not_have_answers_missing_authentication_token(server):
    answer = server.request("GET", "/nowhere", key=server.key("seeds-client"), source_ip="127.0.1.3")
    assert (answer.status, answer.message) == (403, "Missing Authentication Token")


def test_a_body_failing_the_model_is_rejected_by_the_gateway(server):
    answer = server.request("POST", "/items", {"id": "x", "year": "23"}, server.key("seeds-client"), "127.0.1.3")
    assert (answer.status, answer.message, answer.headers["x-amzn-errortype"]) == (
        400,
        "Invalid request body",
        "BadRequestException",
    )


def test_a_missing_required_query_parameter_is_rejected_by_the_gateway(server):
    answer = server.request("GET", "/items?limit=5", key=server.key("seeds-client"), source_ip="127.0.1.3")
    assert (answer.status, answer.message) == (400, "Missing required request parameters: [year]")


def test_gateway_answers_carry_the_request_id_like_the_handlers_errors(server):
    answer = server.request("POST", "/", SEED_BODY, source_ip="127.0.1.4")
    assert answer.json == {"message": "Forbidden", "request_id": answer.headers["x-amzn-requestid"]}


@pytest.mark.parametrize(
    ("consumer", "tier", "source_ip"),
    [("standard-client", STANDARD, "127.0.2.1"), ("premium-client", PREMIUM, "127.0.2.2")],
)
def test_a_burst_above_the_plan_gets_429s_after_token_bucket_arithmetic(server, consumer, tier, source_ip):
    # GIVEN a fresh key (its bucket full) WHEN it sends twice its burst, back to back
    rate, size = tier["throttle"]["rateLimit"], tier["throttle"]["burstLimit"]
    statuses, seconds = burst(server, consumer, 2 * size, source_ip)
    admitted = statuses.count(201)
    # THEN the rest is throttled, and the admitted count is the bucket size plus what refilled meanwhile
    assert set(statuses) == {201, 429}
    assert abs(admitted - (size + rate * seconds)) <= 1, (admitted, size, rate, seconds)


def test_a_throttled_request_says_too_many_requests(server):
    answers = [
        server.request("GET", "/items/none", key=server.key("standard-chatty"), source_ip="127.0.2.3")
        for _ in range(STANDARD["throttle"]["burstLimit"] + 2)
    ]
    assert {(a.status, a.message) for a in answers if a.status == 429} == {(429, "Too Many Requests")}


def test_a_throttled_requests_access_log_line_names_the_key_id(server):
    answers = [
        server.request("GET", "/items/none", key=server.key("standard-logged"), source_ip="127.0.2.9")
        for _ in range(STANDARD["throttle"]["burstLimit"] + 2)
    ]
    throttled = {a.headers["x-amzn-requestid"] for a in answers if a.status == 429}
    logged = [entry for entry in access_log_entries(server) if entry["requestId"] in throttled]
    assert throttled
    assert {(entry["status"], entry["apiKeyId"]) for entry in logged} == {
        ("429", server.state["api_keys"]["standard-logged"]["id"])
    }
    assert len(logged) == len(throttled)


def test_premium_admits_more_than_standard_from_the_same_burst(server):
    standard, _ = burst(server, "standard-rival", 12, "127.0.2.4")
    premium, _ = burst(server, "premium-rival", 12, "127.0.2.5")
    assert premium.count(201) > standard.count(201)


def test_a_quota_of_n_admits_n_then_answers_limit_exceeded(server):
    answers = [
        server.request("POST", "/items", {**SEED_BODY, "id": f"metered-{n}"}, server.key("metered-client"), "127.0.3.1")
        for n in range(5)
    ]
    assert [(a.status, a.message) for a in answers] == [
        (201, "Successfully inserted data!"),
        (201, "Successfully inserted data!"),
        (201, "Successfully inserted data!"),
        (429, "Limit Exceeded"),
        (429, "Limit Exceeded"),
    ]


def test_waf_blocks_an_ip_after_its_limit_and_only_that_ip(server):
    key = server.key("waf-client")
    blocked_ip = "127.0.4.1"
    answers = [server.request("GET", "/items/absent", key=key, source_ip=blocked_ip) for _ in range(WAF_LIMIT + 2)]
    other_ip = server.request("GET", "/items/absent", key=key, source_ip="127.0.4.2")
    assert [a.status for a in answers] == [404] * WAF_LIMIT + [403, 403]
    assert answers[-1].message == "Forbidden"
    assert other_ip.status == 404


def test_a_request_waf_blocks_is_access_logged_with_waf_block(server):
    answers = [server.request("GET", "/items/absent", source_ip="127.0.4.3") for _ in range(WAF_LIMIT + 1)]
    waf_codes = {entry["requestId"]: entry["wafResponseCode"] for entry in access_log_entries(server)}
    assert [waf_codes[answer.headers["x-amzn-requestid"]] for answer in answers] == ["WAF_ALLOW"] * WAF_LIMIT + [
        "WAF_BLOCK"
    ]


def _report_lines(server: LocalServer) -> dict[str, tuple[Path, str]]:
    """Every REPORT line of the function's log streams, by request id: (stream file, line)."""
    lines = {}
    for stream in (server.state_dir / "dev" / "lambda").glob("*.log"):
        for line in stream.read_text().splitlines():
            found = re.match(r"REPORT RequestId: (\S+)", line)
            if found:
                lines[found.group(1)] = (stream, line)
    return lines


def test_a_workers_second_request_is_warm(server):
    # GIVEN two requests one after the other WHEN the second reuses the first one's execution environment
    key = server.key("warm-client")
    first = server.request("GET", "/items/warm", key=key, source_ip="127.0.5.1")
    second = server.request("GET", "/items/warm", key=key, source_ip="127.0.5.1")
    reports = _report_lines(server)
    stream, second_report = reports[second.headers["x-amzn-requestid"]]
    # THEN it pays no import: no Init Duration on it, and its stream initialised exactly once
    assert first.status == second.status == 404
    assert "Init Duration" not in second_report
    assert stream.read_text().count("Init Duration") == 1


def test_access_log_lines_use_the_stage_format_with_local_values(server):
    answer = server.request("GET", "/items/logged", key=server.key("seeds-client"), source_ip="127.0.6.1")
    request_id = answer.headers["x-amzn-requestid"]
    log = (server.state_dir / "dev-access.log").read_text()
    line = next(line for line in log.splitlines() if request_id in line)
    entry = json.loads(line)
    assert set(entry) == set(access_log_format())
    assert (entry["ip"], entry["status"], entry["resourcePath"], entry["httpMethod"]) == (
        "127.0.6.1",
        "404",
        "/items/{id}",
        "GET",
    )
    assert server.key("seeds-client") not in log


def test_starting_a_second_stack_on_the_same_port_fails_with_one_line(server, tmp_path: Path, capsys):
    config_file = Path(server.process.args[server.process.args.index("--config") + 1])
    code = main(server_command(config_file, server.port, tmp_path)[3:])
    errors = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(errors) == 1
    assert f"port {server.port}" in errors[0]
    assert "already in use" in errors[0]
    assert server.request("GET", "/items/12", key=server.key("seeds-client"), source_ip="127.0.1.2").status == 200


def test_starting_the_same_stack_on_another_port_fails_with_one_line(server, capsys):
    config_file = Path(server.process.args[server.process.args.index("--config") + 1])
    code = main(server_command(config_file, free_port(), server.state_dir)[3:])
    errors = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert errors == [f"error: stack 'dev' already runs locally with its data in {server.state_dir}: stop it first"]
    assert (server.state_dir / "dev.json").exists()


def connect(server: LocalServer, source_ip: str) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source_ip, 0))


def body_never_sent(connection: http.client.HTTPConnection, server: LocalServer, header: str, value: str) -> Answer:
    """A POST whose head announces a body with ``header``, sending none of it."""
    connection.putrequest("POST", server.stage_path + "/items")
    connection.putheader(header, value)
    connection.endheaders()
    response = connection.getresponse()
    return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())


def oversized(server: LocalServer, source_ip: str) -> Answer:
    """A POST announcing one byte over API Gateway's payload limit, and sending none of it."""
    with contextlib.closing(connect(server, source_ip)) as connection:
        return body_never_sent(connection, server, "content-length", str(MAX_PAYLOAD_BYTES + 1))


def test_a_request_above_api_gateways_payload_limit_is_refused_unread(server):
    # Answered although the body never comes: nothing waited to read it.
    answer = oversized(server, "127.0.8.1")
    assert (answer.status, answer.message, answer.headers["x-amzn-errortype"]) == (
        413,
        "Request Too Long",
        "BadRequestException",
    )


def test_a_request_above_the_payload_limit_gets_aws_body_not_the_stages_template(server):
    # AWS does not let a stage customise REQUEST_TOO_LARGE: no request_id in the body, unlike other gateway answers.
    answer = oversized(server, "127.0.8.2")
    assert answer.json == {"message": "Request Too Long"}


def test_a_request_above_the_payload_limit_is_access_logged_under_its_request_id(server):
    answer = oversized(server, "127.0.8.3")
    request_id = answer.headers["x-amzn-requestid"]
    logged = [entry for entry in access_log_entries(server) if entry["requestId"] == request_id]
    assert [(entry["status"], entry["httpMethod"], entry["ip"]) for entry in logged] == [("413", "POST", "127.0.8.3")]


def test_the_connection_of_a_request_above_the_payload_limit_is_closed_after_its_answer(server):
    # Its body stays unread: on a connection kept open, the body's bytes would be read as the next request.
    with contextlib.closing(connect(server, "127.0.8.4")) as connection:
        refused = body_never_sent(connection, server, "content-length", str(MAX_PAYLOAD_BYTES + 1))
        connection.request("GET", server.stage_path + "/items/12")
        with pytest.raises(ConnectionError):
            connection.getresponse()
    assert refused.status == 413


def test_a_request_of_exactly_the_payload_limit_is_read_and_judged(server):
    # Read whole, then refused for its missing key like any request: the limit itself is allowed.
    answer = server.request("POST", "/items", b" " * MAX_PAYLOAD_BYTES, source_ip="127.0.8.5")
    assert (answer.status, answer.message) == (403, "Forbidden")


def test_a_chunked_request_is_refused_length_required(server):
    with contextlib.closing(connect(server, "127.0.8.6")) as connection:
        answer = body_never_sent(connection, server, "transfer-encoding", "chunked")
    assert answer.status == 411


def content_length(head: bytes) -> int:
    found = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert found is not None
    return int(found[1])


def test_a_head_request_gets_the_content_length_of_its_answer_and_no_body(server):
    # A route the API does not have: HEAD and GET both get Missing Authentication Token, bodies of one length.
    requests = "".join(
        f"{method} {server.stage_path}/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n"
        for method, extra in (("HEAD", ""), ("GET", "Connection: close\r\n"))
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30, source_address=("127.0.7.2", 0)) as client:
        client.sendall(requests.encode())
        received = b"".join(iter(functools.partial(client.recv, 1 << 16), b""))
    head_of_head, _, rest = received.partition(b"\r\n\r\n")
    head_of_get, _, body_of_get = rest.partition(b"\r\n\r\n")
    # The GET's answer follows the HEAD's head at once: not one byte of body between them.
    assert head_of_get.startswith(b"HTTP/1.1 403 ")
    assert content_length(head_of_head) == content_length(head_of_get) == len(body_of_get) > 0


def test_a_kept_alive_connection_gets_each_answer_in_one_piece(server):
    # Head and body sent apart, the body waited for the client's delayed ACK of the head (Nagle): 40 ms a request
    # once a kept-alive connection is past TCP's quick-ACK start. Sent together, each answer is whole at first read.
    request = f"GET {server.stage_path}/items/12 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30, source_address=("127.0.7.1", 0)) as client:
        for _ in range(10):
            client.sendall(request)
            head, _, body = client.recv(1 << 20).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 403 ")
            assert len(body) == content_length(head)


@pytest.fixture
def api_in_front_of(stack_config) -> Callable[[LambdaPool], LocalApi]:
    """The dev stack's gateway and integration, in this process, in front of ``pool`` (no HTTP, no DynamoDB)."""
    settings = load_settings("dev", stack_config("dev"))

    def build(pool: LambdaPool) -> LocalApi:
        return LocalApi(settings, Gateway(settings, {KEY.consumer: KEY}, DEFINITION), pool, "127.0.0.1:3000")

    return build


def get_item(api: LocalApi) -> Reply:
    return api.handle("GET", f"/{api.stage}/items/12", [("x-api-key", KEY.value)], "127.0.0.1", b"")


def test_a_function_error_is_answered_502_internal_server_error(api_in_front_of, tmp_path):
    # A handler whose Init fails: Lambda answers the invocation with a function error.
    pool = LambdaPool(function_config(tmp_path, handler="tests.local.broken_handler.handler"))
    with contextlib.closing(pool):
        reply = get_item(api_in_front_of(pool))
    assert (reply.status, json.loads(reply.body)["message"]) == (502, "Internal server error")


def test_a_lambda_throttle_gives_the_access_log_lambdas_error_message(api_in_front_of, tmp_path):
    # A closed pool has no execution environment to give: Lambda's TooManyRequestsException.
    pool = LambdaPool(function_config(tmp_path))
    pool.close()
    reply = get_item(api_in_front_of(pool))
    assert fill("$context.integrationErrorMessage", reply.log) == "Lambda.TooManyRequestsException: Rate Exceeded."
