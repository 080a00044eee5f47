"""What the numbers were measured on: they mean little without the machine beside them."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Machine", "cpu_model", "describe_machine"]


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu_model: str
    python: str
    system: str

    def describe(self) -> str:
        return f"{self.cores} cores, {self.cpu_model}, Python {self.python}, {self.system}"


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` of ``/proc/cpuinfo``'s text; ``unknown`` when there is none."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown"


def describe_machine(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> Machine:
    try:
        text = cpuinfo_path.read_text()
    except OSError:
        text = ""
    return Machine(
        cores=os.cpu_count() or 1,
        cpu_model=cpu_model(text),
        python=platform.python_version(),
        system=f"{platform.system()} {platform.release()}",
    )
