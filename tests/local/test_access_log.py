"""Access log lines: the stage's own format, filled as API Gateway fills it."""

from __future__ import annotations

import io
import json
import os

import pytest

from components.api import access_log_format
from local.access_log import AccessLog, fill, render


def test_each_variable_is_replaced_by_its_value():
    assert fill("$context.requestId/$context.status", {"requestId": "r1", "status": 201}) == "r1/201"


@pytest.mark.parametrize("context", [{}, {"identity.apiKeyId": None}, {"identity.apiKeyId": ""}])
def test_a_variable_without_a_value_renders_as_a_dash(context):
    assert fill("$context.identity.apiKeyId", context) == "-"


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


def test_a_line_can_be_read_from_the_file_and_a_piped_stream_as_soon_as_it_is_written(tmp_path):
    # A stream into a pipe is block-buffered, as `make dev`'s output piped to another program.
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    with open(read_end, "rb", buffering=0) as piped, open(write_end, "w") as stream:
        log = AccessLog({"id": "$context.requestId"}, tmp_path / "access.log", stream)
        log.write({"requestId": "r1"})
        written = ((tmp_path / "access.log").read_text(), piped.read(1 << 16))
        log.close()
    assert written == ('{"id":"r1"}\n', b'{"id":"r1"}\n')
