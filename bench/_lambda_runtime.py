"""What AWS Lambda's Python runtime does to a process before it imports the handler, for the benchmarks' children.

The runtime (awslambdaric's bootstrap) makes stdout and stderr flush on every write and gives the root logger its
own handler: one text line per record, ``[LEVEL]\\tTIME\\tREQUEST_ID\\tMESSAGE``, carrying the current invocation's
request id. Without it a handler that logs through the root logger, as the seeds' sample does, would log nothing at
all here while ours paid for every line. Standard library only: cold-start children install it before the clock.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

__all__ = ["begin_invocation", "install"]

_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"
_current_request_id = ""


class _Unbuffered:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        self._stream.flush()
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


class _RuntimeLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        sys.stdout.write(self.format(record))


def install() -> None:
    """Set up this process's output as the runtime does, once, before the handler's module is imported."""
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)
    logging.Formatter.converter = time.gmtime
    handler = _RuntimeLogHandler()
    handler.setFormatter(logging.Formatter(_FORMAT, _DATE_FORMAT))
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def begin_invocation(request_id: str) -> None:
    """The request id the runtime's log lines carry from now on, as the runtime sets it for each invocation."""
    global _current_request_id
    _current_request_id = request_id
