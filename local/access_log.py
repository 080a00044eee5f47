"""Stage access log lines: the deployed stage's JSON format, its ``$context`` variables filled with local values.

API Gateway renders the format as a template: each ``$context.x`` becomes the variable's text, and a variable
without a value becomes ``-``. Doing the same here keeps the local lines byte-for-byte comparable with the
stage's, whatever keys the format chooses.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

__all__ = ["AccessLog", "fill", "render"]

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]+)")


def fill(template: str, context: Mapping[str, object]) -> str:
    """``template`` with each ``$context.x`` replaced by ``context["x"]``, ``-`` where it has no value."""

    def value(match: re.Match[str]) -> str:
        found = context.get(match.group(1))
        return "-" if found is None or found == "" else str(found)

    return _VARIABLE.sub(value, template)


def render(log_format: Mapping[str, str], context: Mapping[str, object]) -> str:
    """One access log line: ``log_format``'s keys, each template filled from ``context`` (variable → value)."""
    return json.dumps({key: fill(template, context) for key, template in log_format.items()}, separators=(",", ":"))


class AccessLog:
    """Writes each line to the stage's log file and to a stream (the terminal of ``make dev``)."""

    def __init__(self, log_format: Mapping[str, str], path: Path, stream: IO[str]) -> None:
        self._format = dict(log_format)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", buffering=1)
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, context: Mapping[str, object]) -> None:
        line = render(self._format, context)
        with self._lock:
            self._file.write(line + "\n")
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()
