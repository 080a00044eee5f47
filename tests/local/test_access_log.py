"""Access log lines: the stage's own format, filled as API Gateway fills it."""

from __future__ import annotations

import io
import json

from components.api import access_log_format
from local.access_log import AccessLog, fill, render


def test_each_variable_is_replaced_by_its_value():
    assert fill("$context.requestId/$context.status", {"requestId": "r1", "status": 201}) == "r1/201"


def test_a_variable_without_a_value_renders_as_a_dash():
    assert fill("$context.identity.apiKeyId", {"identity.apiKeyId": None}) == "-"


def test_a_line_has_exactly_the_stages_keys():
    line = json.loads(render(access_log_format(), {"requestId": "r1", "status": 403}))
    assert set(line) == set(access_log_format())
    assert (line["requestId"], line["status"], line["apiKeyId"]) == ("r1", "403", "-")


def test_a_line_goes_to_the_file_and_the_stream(tmp_path):
    stream = io.StringIO()
    log = AccessLog({"id": "$context.requestId"}, tmp_path / "access.log", stream)
    log.write({"requestId": "r1"})
    log.close()
    assert (tmp_path / "access.log").read_text() == stream.getvalue() == '{"id":"r1"}\n'
