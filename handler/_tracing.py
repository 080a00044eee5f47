"""The X-Ray tracer, built once per cold start, for the handler and the store's DynamoDB calls.

The X-Ray SDK is the heaviest import of the function (its recorder builds two botocore clients on import)
and Powertools' Tracer imports it even when tracing is disabled. It is only imported where traces can
actually be sent: inside Lambda, with tracing not turned off. Everywhere else (tests, ``make dev``,
benchmarks with ``POWERTOOLS_TRACE_DISABLED=true``) a no-op stands in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from handler.config import ENV_POWERTOOLS_TRACE_DISABLED

_F = TypeVar("_F", bound=Callable[..., Any])
_TRUTHY = frozenset({"1", "true", "yes", "on", "y", "t"})


class TracerLike(Protocol):
    def capture_lambda_handler(self, lambda_handler: _F) -> _F: ...

    def capture_method(self, method: _F) -> _F: ...


class _NoTracer:
    def capture_lambda_handler(self, lambda_handler: _F) -> _F:
        return lambda_handler

    def capture_method(self, method: _F) -> _F:
        return method


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    """Powertools' own rule: traces go out only from real Lambda, and not when explicitly disabled."""
    in_lambda = bool(environ.get("LAMBDA_TASK_ROOT")) and not environ.get("AWS_SAM_LOCAL")
    disabled = environ.get(ENV_POWERTOOLS_TRACE_DISABLED, "false").strip().lower() in _TRUTHY
    return in_lambda and not disabled


class _ResponseFreeTracer:
    """Powertools' Tracer, never recording what a traced function returns: the handler's and the store's results
    are the items themselves, and stored data has no place in traces. Errors are still recorded."""

    def __init__(self, tracer: Any) -> None:
        self._tracer = tracer

    def capture_lambda_handler(self, lambda_handler: _F) -> _F:
        return cast(_F, self._tracer.capture_lambda_handler(lambda_handler, capture_response=False))

    def capture_method(self, method: _F) -> _F:
        return cast(_F, self._tracer.capture_method(method, capture_response=False))


def _build_tracer() -> TracerLike:
    if not tracing_enabled(os.environ):
        return _NoTracer()
    from aws_lambda_powertools import Tracer

    # Only DynamoDB calls need subsegments; patching every supported library would import them all.
    return _ResponseFreeTracer(Tracer(patch_modules=("botocore",)))


tracer = _build_tracer()
