"""Benchmark 5: the deployment package's size, and the time to evaluate the program under mocks per stack."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench.environment import ROOT, run_python
from bench.report import Section, Table
from bench.stats import summarize
from components.settings import stack_names

__all__ = ["build_package", "run"]

_TIMEOUT_SECONDS: Final = 600


def build_package() -> tuple[str, int, int]:
    """Zip the files ``components.api`` puts in the function's code archive; (how, compressed bytes, files)."""
    from components.api import HANDLER_PACKAGE, handler_code_files

    files = handler_code_files(HANDLER_PACKAGE)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for archived, path in files.items():
            archive.write(path, archived)
    how = (
        "`components.api.handler_code_files(HANDLER_PACKAGE)` zipped with deflate; Powertools comes from the"
        " official layer `components.api` pins and boto3 from the Lambda runtime, so neither is in the zip"
    )
    return how, len(buffer.getvalue()), len(files)


@dataclass(frozen=True)
class _Evaluation:
    first: float
    later: list[float]
    resources: int


def _evaluate(stack: str, runs: int, workdir: Path) -> _Evaluation:
    result_file = workdir / f"{stack}.json"
    run_python(
        ["-m", "bench._program_child", stack, str(runs), str(result_file)],
        {},
        f"evaluating stack {stack}",
        _TIMEOUT_SECONDS,
    )
    result = json.loads(result_file.read_text())
    return _Evaluation(first=result["first"], later=result["later"], resources=result["resources"])


def run(package: Callable[[], tuple[str, int, int]], processes: int, runs_per_process: int = 3) -> Section:
    """``package()`` builds the handler's zip as the infrastructure does: (how it was built, bytes, files)."""
    how, size, files = package()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-program-") as scratch:
        for stack in stack_names(ROOT):
            results = [_evaluate(stack, runs_per_process, Path(scratch)) for _ in range(processes)]
            first = summarize([r.first for r in results])
            later = summarize([t for r in results for t in r.later])
            rows.append((stack, str(results[0].resources), first.format("s", 2), later.scaled(1000).format("ms", 0)))
    return Section(
        title="Deployment package and program evaluation",
        method=(
            f"The handler's zip as the infrastructure builds it ({how}). The program (`__main__.py`) is evaluated"
            f" under Pulumi mocks (`tools.mocks.run_program`, as `make plan` and the tests do) in {processes} fresh"
            f" processes per stack, {runs_per_process} times in each: *first* includes importing Pulumi and"
            " pulumi_aws, *later* is the program alone."
        ),
        tables=(
            Table(
                ("deployment package", "size", "files"),
                (("handler zip", f"{size / 1024:.1f} KiB ({size} bytes)", str(files)),),
            ),
            Table(("stack", "resources", "first evaluation (with imports)", "later evaluations"), tuple(rows)),
        ),
    )
