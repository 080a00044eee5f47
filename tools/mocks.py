"""Run the Pulumi program in-process under mocks and record the resource graph it would create.

Used by the tests and by ``make plan``: no Pulumi CLI, no credentials, no network. The program (``__main__.py``) runs
exactly as ``pulumi up`` would run it, fed from a stack file; every registered resource is recorded with its type,
name, inputs (camelCase, as the engine sees them), parent and dependencies, and the stack's outputs are resolved.
Assertions are made on the finished recording, never inside ``apply`` callbacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.settings import PROJECT, ConfigError, StackSettings, load_settings, stack_file_name, stack_names

__all__ = [
    "ACCOUNT_ID",
    "DYNAMODB_PREFIX_LIST_ID",
    "ROOT",
    "ProgramRun",
    "RecordedResource",
    "TieredApiMocks",
    "cli_config",
    "load_stack_file",
    "load_stack_text",
    "read_stack_config",
    "run_components",
    "run_program",
    "stack_settings",
]

ROOT = Path(__file__).resolve().parent.parent
# AWS's documentation placeholder account, never a real one.
ACCOUNT_ID = "123456789012"
AVAILABILITY_ZONE_SUFFIXES = "abcdef"
DYNAMODB_PREFIX_LIST_ID = "pl-02cd2c6b"


@dataclass(frozen=True)
class RecordedResource:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str | None
    dependencies: tuple[str, ...]
    custom: bool
    protect: bool = False
    delete_before_replace: bool = False
    outputs: dict[str, Any] | None = None
    """What the provider reports once the resource exists (the mocks' imitation); ``None``: the inputs alone."""

    @property
    def state(self) -> dict[str, Any]:
        """The resource as a deployed stack holds it: what CrossGuard's stack policies see."""
        return self.inputs if self.outputs is None else self.outputs

    def get(self, *path: str, default: Any = None) -> Any:
        """A nested input by path, ``default`` where any step is missing."""
        value: Any = self.inputs
        for step in path:
            if not isinstance(value, Mapping) or step not in value:
                return default
            value = value[step]
        return value


@dataclass
class ProgramRun:
    stack: str
    settings: StackSettings
    resources: list[RecordedResource]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def of_type(self, type_: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RecordedResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {[r.name for r in found]}")
        return found[0]

    def by_urn(self, urn: str) -> RecordedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    def named(self, name: str) -> RecordedResource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(name)

    def children_of(self, parent: RecordedResource) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def depends_on(self, dependent: RecordedResource, dependency: RecordedResource) -> bool:
        """True when ``dependent`` waits for ``dependency``, directly or through its own dependencies."""
        seen: set[str] = set()
        pending = list(dependent.dependencies)
        while pending:
            urn = pending.pop()
            if urn == dependency.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            try:
                pending.extend(self.by_urn(urn).dependencies)
            except KeyError:
                continue
        return False


class TieredApiMocks(pulumi.runtime.Mocks):
    """Realistic invoke results and computed outputs (ids, ARNs) in the engine's camelCase."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        resource_id = f"{args.name}-id"
        state = dict(args.inputs)
        service = args.typ.split(":")[1].split("/")[0] if args.typ.startswith("aws:") else ""
        if service:
            state.setdefault("arn", self._arn(service, args.typ, args.name))
        state.update(self._computed(args.typ, args.name, state))
        return resource_id, state

    def _arn(self, service: str, type_: str, name: str) -> str:
        kind = type_.rsplit(":", 1)[-1].lower()
        return f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{kind}/{name}"

    def _computed(self, type_: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
        region = self.region
        if type_ == "aws:apigateway/restApi:RestApi":
            return {
                "rootResourceId": f"{name}-root",
                "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{name}-id",
                "arn": f"arn:aws:apigateway:{region}::/restapis/{name}-id",
            }
        if type_ == "aws:apigateway/stage:Stage":
            stage = state.get("stageName", name)
            return {
                "invokeUrl": f"https://{name}-api.execute-api.{region}.amazonaws.com/{stage}",
                "arn": f"arn:aws:apigateway:{region}::/restapis/{state.get('restApi', 'api')}/stages/{stage}",
                "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT_ID}:{state.get('restApi', 'api')}/{stage}",
            }
        if type_ == "aws:lambda/function:Function":
            arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{state.get('name', name)}"
            return {
                "arn": arn,
                "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations",
                "qualifiedArn": f"{arn}:1",
                "name": state.get("name", name),
            }
        if type_ == "aws:dynamodb/table:Table":
            table = state.get("name", name)
            arn = f"arn:aws:dynamodb:{region}:{ACCOUNT_ID}:table/{table}"
            computed: dict[str, Any] = {"arn": arn, "streamArn": f"{arn}/stream/2026-01-01T00:00:00.000", "name": table}
            encryption = state.get("serverSideEncryption") or {}
            if encryption.get("enabled") and not encryption.get("kmsKeyArn"):
                # Encryption with no key named: AWS uses its managed key (alias/aws/dynamodb), and says which.
                aws_managed_key = f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/aws-managed-dynamodb-key"
                computed["serverSideEncryption"] = {**encryption, "kmsKeyArn": aws_managed_key}
            return computed
        if type_ == "aws:cloudwatch/logGroup:LogGroup":
            group = state.get("name", name)
            return {"arn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:{group}", "name": group}
        if type_ == "aws:iam/role:Role":
            return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "name": state.get("name", name)}
        if type_ == "aws:kms/key:Key":
            return {"arn": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{name}-id", "keyId": f"{name}-id"}
        if type_ == "aws:sns/topic:Topic":
            return {"arn": f"arn:aws:sns:{region}:{ACCOUNT_ID}:{name}", "name": state.get("name", name)}
        if type_ == "aws:wafv2/webAcl:WebAcl":
            return {"arn": f"arn:aws:wafv2:{region}:{ACCOUNT_ID}:regional/webacl/{name}/{name}-id"}
        if (
            type_ == "aws:ec2/vpcEndpoint:VpcEndpoint"
            and state.get("serviceName") == f"com.amazonaws.{region}.dynamodb"
        ):
            # A gateway endpoint routes its service's prefix list, the one getPrefixList names.
            return {"prefixListId": DYNAMODB_PREFIX_LIST_ID}
        if type_ == "aws:ec2/vpc:Vpc":
            return {"defaultSecurityGroupId": f"{name}-default-sg", "mainRouteTableId": f"{name}-main-rt"}
        if type_ == "aws:apigateway/apiKey:ApiKey":
            # AWS generates the key's value and the provider reports it (as a secret output).
            return {"name": state.get("name", name), "value": f"{name}-value-generated-by-aws"}
        if type_ == "aws:cloudwatch/dashboard:Dashboard":
            return {"dashboardName": state.get("dashboardName", name)}
        return {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return self._invoke(args.token, args.args), []

    def _invoke(self, token: str, args: Mapping[str, Any]) -> dict[str, Any]:
        region = self.region
        if token == "aws:index/getRegion:getRegion":
            return {"region": region, "name": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                "userId": "AIDACI",
                "id": ACCOUNT_ID,
            }
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{suffix}" for suffix in AVAILABILITY_ZONE_SUFFIXES]
            return {"names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 7)], "id": region}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": json.dumps(_policy_document(args)), "id": "policy"}
        if token in ("aws:ec2/getPrefixList:getPrefixList", "aws:ec2/getManagedPrefixList:getManagedPrefixList"):
            return {
                "id": DYNAMODB_PREFIX_LIST_ID,
                "prefixListId": DYNAMODB_PREFIX_LIST_ID,
                "name": f"com.amazonaws.{region}.dynamodb",
                "cidrBlocks": ["52.94.0.0/22", "52.119.224.0/20"],
            }
        if token == "aws:ssm/getParameter:getParameter":
            name = str(args.get("name", ""))
            return {"name": name, "value": _ssm_parameter(name, region), "type": "String", "id": name}
        # An unmocked invoke would come back empty and turn fields into None silently: fail loudly instead.
        raise NotImplementedError(f"invoke {token} has no mock in tools/mocks.py")


def _policy_document(args: Mapping[str, Any]) -> dict[str, Any]:
    """Render getPolicyDocument's statements the way AWS's JSON would read."""
    statements = []
    for statement in args.get("statements") or []:
        rendered: dict[str, Any] = {"Effect": statement.get("effect", "Allow")}
        if statement.get("sid"):
            rendered["Sid"] = statement["sid"]
        for source, target in (
            ("actions", "Action"),
            ("notActions", "NotAction"),
            ("resources", "Resource"),
            ("notResources", "NotResource"),
        ):
            if statement.get(source):
                rendered[target] = statement[source]
        for principal in statement.get("principals") or []:
            rendered.setdefault("Principal", {})[principal["type"]] = principal["identifiers"]
        for condition in statement.get("conditions") or []:
            rendered.setdefault("Condition", {}).setdefault(condition["test"], {})[condition["variable"]] = condition[
                "values"
            ]
        statements.append(rendered)
    return {"Version": "2012-10-17", "Statement": statements}


def _ssm_parameter(name: str, region: str) -> str:
    # AWS publishes the Powertools layer ARN under a public parameter named after the version.
    # /aws/service/powertools/python/{architecture}/{runtime}/{version}; the layer is named after the first two.
    if name.startswith("/aws/service/powertools/python/"):
        architecture, runtime, version = name.removeprefix("/aws/service/powertools/python/").split("/")
        layer = f"AWSLambdaPowertoolsPythonV3-{runtime.replace('.', '')}-{architecture}"
        return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:layer:{layer}:{version}"
    raise NotImplementedError(f"SSM parameter {name} has no mock in tools/mocks.py")


class _EngineLog(logging.Handler):
    """Keeps what the program logs through ``pulumi.log`` instead of printing it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.warnings.append(record.getMessage())


class _RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping what ``MockResourceArgs`` leaves out: parent, dependencies, options."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
            self.recorded.append(
                RecordedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    inputs=_plain(inputs),
                    parent=request.parent or None,
                    dependencies=tuple(request.dependencies),
                    custom=request.custom,
                    protect=request.protect,
                    delete_before_replace=request.deleteBeforeReplace,
                    outputs=_plain(pulumi.runtime.rpc.deserialize_properties(response.object))
                    if request.custom
                    else None,
                )
            )
        return response


def _plain(value: Any) -> Any:
    """Inputs as plain data: unknowns and secrets unwrapped so assertions read naturally."""
    if isinstance(value, Mapping):
        if value.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270":
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def read_stack_config(path: Path) -> dict[str, Any]:
    """The ``config:`` map of a stack file, namespaced keys to parsed values."""
    return _parse_stack_config(path.read_text())


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StackFileLoader(yaml.SafeLoader):
    """``yaml.safe_load``, except that a key given twice in one map is an error: YAML requires keys to be unique,
    and PyYAML (as Pulumi's own loader) would silently keep the last one, a tier or a consumer edited twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # `<<: *anchor` merges a map in; the map's own keys may override what it brings
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # a key YAML allows but a dict cannot hold: PyYAML's own error names it
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice in one map, at lines {first_lines[key]} and {line}"
                )
            first_lines[key] = line
        return super().construct_mapping(node, deep)


def _parse_stack_config(text: str) -> dict[str, Any]:
    """The ``config:`` map of a stack file's text; raises ``yaml.YAMLError`` when it is not YAML."""
    document = yaml.load(text, Loader=_StackFileLoader) or {}  # noqa: S506 (a SafeLoader)
    config = document.get("config") if isinstance(document, Mapping) else None
    return dict(config) if isinstance(config, Mapping) else {}


def cli_config(config: Mapping[str, Any]) -> dict[str, str]:
    """``config`` as the Pulumi CLI hands it to programs and policy packs: strings, JSON for anything else."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def load_stack_file(stack: str, config_file: Path | None = None) -> tuple[StackSettings, dict[str, Any]]:
    """The validated settings and the config map of ``Pulumi.<stack>.yaml`` (or ``config_file``).

    Every way a stack file can be unusable (missing, unreadable, not YAML, no ``config:`` map, invalid values) is
    one ``ConfigError`` naming the file.
    """
    path = config_file or ROOT / stack_file_name(stack)
    source = str(config_file) if config_file else stack_file_name(stack)
    try:
        text = path.read_text()
    except FileNotFoundError:
        if config_file:
            raise ConfigError(source, ["no such file"]) from None
        raise ConfigError(source, [f"no such stack file; the stacks here are {', '.join(stack_names(ROOT))}"]) from None
    except OSError as error:
        raise ConfigError(source, [f"cannot be read: {error.strerror or error}"]) from None
    return load_stack_text(stack, text, source)


def load_stack_text(stack: str, text: str, source: str) -> tuple[StackSettings, dict[str, Any]]:
    """``load_stack_file`` for a stack file's text (``source`` names it), e.g. as it was at another git ref."""
    try:
        config = _parse_stack_config(text)
    except yaml.YAMLError as error:
        raise ConfigError(source, [f"is not valid YAML: {str(error).splitlines()[0]}"]) from None
    if not config:
        raise ConfigError(source, ["has no `config:` map"])
    encrypted = [f"{path}: {_ENCRYPTED}" for path in _secure_values(config)]
    if encrypted:
        raise ConfigError(source, encrypted)
    return load_settings(stack, config, source=source), config


_ENCRYPTED = (
    "is an encrypted (secure) value, which only the Pulumi CLI can decrypt: none of this program's settings is a "
    "secret, so write it in plain text for make plan, make tiers and make dev to check it"
)


def _secure_values(value: Any, path: str = "") -> list[str]:
    """Key paths of the ``{secure: ...}`` values Pulumi writes for ``pulumi config set --secret``."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"} and isinstance(value["secure"], str):
            return [path]
        return [
            found for key, item in value.items() for found in _secure_values(item, f"{path}.{key}" if path else key)
        ]
    return []


def stack_settings(stack: str, config: Mapping[str, Any] | None = None) -> StackSettings:
    """A stack's validated settings from its real stack file, or from ``config`` (an edited copy of it)."""
    return load_settings(stack, config) if config is not None else load_stack_file(stack)[0]


def run_program(stack: str, config_file: Path | None = None) -> ProgramRun:
    """Run ``__main__.py`` for ``stack`` under mocks, from its stack file (or ``config_file``).

    Raises ``ConfigError`` before anything runs when the configuration is invalid.
    """
    settings, values = load_stack_file(stack, config_file)
    return _run(settings, values, _run_main)


def run_components(settings: StackSettings, build: Callable[[StackSettings], object]) -> ProgramRun:
    """Run ``build(settings)`` under mocks as if it were the program: for tests of one component at a time."""
    return _run(settings, {}, lambda: build(settings))


def _run(settings: StackSettings, config: Mapping[str, Any], body: Callable[[], object]) -> ProgramRun:
    stack = settings.stack
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        mocks = TieredApiMocks(settings.region)
        monitor = _RecordingMonitor(mocks)
        engine_log = _EngineLog()
        logger = logging.getLogger(f"tiered-api.mocks.{stack}")
        logger.propagate = False
        logger.handlers = [engine_log]
        pulumi.runtime.reset_options(project=PROJECT, stack=stack)
        pulumi.runtime.set_all_config(cli_config(config))
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor, logger=logger)

        def program() -> None:
            body()

        _sync_await(run_pulumi_func(program))
        outputs = _resolve_outputs()
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        pulumi.runtime.set_all_config({})
    return ProgramRun(stack, settings, monitor.recorded, outputs, engine_log.warnings)


def _run_main() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def _resolve_outputs() -> dict[str, Any]:
    root = pulumi.runtime.settings.get_root_resource()
    exported = getattr(root, "outputs", {}) or {}
    if not exported:
        return {}
    resolved = _sync_await(pulumi.Output.from_input(dict(exported)).future())
    return dict(resolved or {})
