"""StackSettings: the one typed, validated model of a stack's configuration.

Every limit of the program lives in the stack files (``Pulumi.<stack>.yaml``) and reaches the infrastructure, the
handler's environment, the local stack and the reports only through this model. ``load_settings`` is the single
entry point: it raises one ``ConfigError`` naming the file, each key path and what is allowed: every problem of the
values at once, then, once the values are valid, every rule across keys. Mismatches that can work, but badly, are
``capacity_warnings`` with the numbers.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from handler.config import MAX_RATE_LIMIT_WINDOW_SECONDS
from handler.contract import ROUTES

__all__ = [
    "API_GATEWAY_MAX_INTEGRATION_TIMEOUT_SECONDS",
    "API_METHOD_COUNT",
    "LOG_RETENTION_DAYS",
    "NAMESPACE",
    "PROJECT",
    "RESOURCE_NAME_TAG",
    "WAF_WINDOWS_SECONDS",
    "AlarmSettings",
    "ApiGatewaySettings",
    "AppRateLimitSettings",
    "ConfigError",
    "ConsumerSettings",
    "DataSettings",
    "LambdaSettings",
    "LoggingLevel",
    "NetworkSettings",
    "PlanSettings",
    "QuotaPeriod",
    "QuotaSettings",
    "StackSettings",
    "ThrottleSettings",
    "WafSettings",
    "load_settings",
    "stack_file_name",
    "stack_names",
    "stack_of_file",
]

PROJECT = "tiered-api"
NAMESPACE = f"{PROJECT}:"
API_GATEWAY_MAX_INTEGRATION_TIMEOUT_SECONDS = 29
WAF_WINDOWS_SECONDS = (60, 120, 300, 600)
WAF_MIN_LIMIT = 10
# The VPC's prefix lengths: /16 is AWS's largest VPC; /24 still leaves /27 subnets in the network's eight slots.
VPC_PREFIX_LENGTHS = range(16, 25)
# AWS's tag limits, the same for every service this stack uses: per resource, per key, per value.
AWS_MAX_TAGS = 50
AWS_MAX_TAG_KEY_LENGTH = 128
AWS_MAX_TAG_VALUE_LENGTH = 256
# Besides letters, numbers and spaces: DynamoDB's set, the narrowest of the services this program tags (WAF and most
# others also take @), so a tag every resource accepts.
AWS_TAG_SYMBOLS = "+-=._:/"
# API Gateway's QuotaSettings.limit is a 32-bit integer.
API_GATEWAY_MAX_QUOTA = 2**31 - 1
# Lambda keeps this much of the account's regional concurrency unreserved; the default quota is 1,000.
LAMBDA_MIN_UNRESERVED_CONCURRENCY = 100
LAMBDA_DEFAULT_ACCOUNT_CONCURRENCY = 1000
# The tag the program adds to the resources it names itself (the network's), on top of the stack file's tags.
RESOURCE_NAME_TAG = "Name"
# The REST API's methods (HTTP method + resource), one per route. The stage's throttle is its default method setting
# (`*/*`), which API Gateway applies per method: each method has a bucket of the stage's rate and burst of its own.
API_METHOD_COUNT = len({(route.method, route.path) for route in ROUTES})
# The values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


class ConfigError(ValueError):
    """A stack file that cannot produce a working stack; the message lists every problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: invalid configuration\n{lines}")


class QuotaPeriod(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class LoggingLevel(StrEnum):
    INFO = "INFO"
    ERROR = "ERROR"


def _allowed_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of CloudWatch's retention values {list(LOG_RETENTION_DAYS)}")
    return days


def _vpc_cidr(value: str) -> str:
    shortest, longest = VPC_PREFIX_LENGTHS[0], VPC_PREFIX_LENGTHS[-1]
    allowed = f"an IPv4 network address a.b.c.d/nn, each number 0-255, with a /{shortest} to /{longest} prefix"
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(f"must be {allowed}") from None
    # str() is the canonical form: it rules out a missing prefix, netmask notation and IPv6 spellings alike.
    if interface.version != 4 or str(interface) != value or interface.network.prefixlen not in VPC_PREFIX_LENGTHS:
        raise ValueError(f"must be {allowed}")
    if interface.ip != interface.network.network_address:
        raise ValueError(f"must have no host bits set: the network address of this block is {interface.network}")
    return value


# Tag problems sit under the tag's own key path, which already shows the key: the message does not repeat it.
_TAG_ERROR = "aws_tag"


def _tag_characters(text: str, what: str) -> None:
    refused = sorted({c for c in text if unicodedata.category(c)[0] not in "LNZ" and c not in AWS_TAG_SYMBOLS})
    if refused:
        # Controls and combining marks would vanish from the message or break its line: named by code point.
        shown = [f"U+{ord(c):04X}" if unicodedata.category(c)[0] in "CM" else c for c in refused]
        raise PydanticCustomError(
            _TAG_ERROR,
            "{what} may hold only letters, numbers, spaces and {symbols} (DynamoDB's rule, the narrowest of the "
            "tagged services); not {refused}",
            {"what": what, "symbols": " ".join(AWS_TAG_SYMBOLS), "refused": " ".join(shown)},
        )


def _tag_key(key: str) -> str:
    if not 1 <= len(key) <= AWS_MAX_TAG_KEY_LENGTH:
        raise PydanticCustomError(
            _TAG_ERROR,
            "tag keys must be 1-{limit} characters (got {length})",
            {"limit": AWS_MAX_TAG_KEY_LENGTH, "length": len(key)},
        )
    if key[:4].lower() == "aws:":
        raise PydanticCustomError(_TAG_ERROR, "tag keys must not start with aws: in any case, AWS reserves that prefix")
    _tag_characters(key, "tag keys")
    return key


def _tag_value(value: str) -> str:
    if len(value) > AWS_MAX_TAG_VALUE_LENGTH:
        raise PydanticCustomError(
            _TAG_ERROR,
            "tag values must be at most {limit} characters (got {length})",
            {"limit": AWS_MAX_TAG_VALUE_LENGTH, "length": len(value)},
        )
    _tag_characters(value, "tag values")
    return value


def _tag_count(tags: dict[str, str]) -> dict[str, str]:
    on_named_resources = set(tags) | {RESOURCE_NAME_TAG}
    if len(on_named_resources) > AWS_MAX_TAGS:
        raise ValueError(
            f"must hold at most {AWS_MAX_TAGS} tags together with the {RESOURCE_NAME_TAG} tag the program adds to "
            f"the network's resources, AWS's limit per resource (got {len(on_named_resources)})"
        )
    return tags


def _allowed_waf_window(seconds: int) -> int:
    if seconds not in WAF_WINDOWS_SECONDS:
        raise ValueError(f"must be one of {list(WAF_WINDOWS_SECONDS)} (AWS WAF rate-based rule windows)")
    return seconds


class _Settings(BaseModel):
    """Frozen, strict about unknown keys, camelCase in the stack files and snake_case in Python."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )


PositiveRate = Annotated[float, Field(gt=0, le=10_000)]
PositiveCount = Annotated[int, Field(ge=1)]


class ThrottleSettings(_Settings):
    """A token bucket as API Gateway applies it: ``rate_limit`` tokens per second, ``burst_limit`` bucket size."""

    rate_limit: PositiveRate = Field(description="steady-state requests per second")
    burst_limit: Annotated[int, Field(ge=1, le=20_000)] = Field(description="bucket size: requests at once")


class QuotaSettings(_Settings):
    limit: Annotated[int, Field(ge=1, le=API_GATEWAY_MAX_QUOTA)] = Field(description="requests per period per API key")
    period: QuotaPeriod = Field(description="DAY, WEEK or MONTH")


class PlanSettings(_Settings):
    """A usage-plan tier: per-key throttle and quota."""

    description: str = Field(default="", max_length=200)
    throttle: ThrottleSettings
    quota: QuotaSettings


class ConsumerSettings(_Settings):
    """A consumer gets one API key, bound to its tier's usage plan; the key's value is generated by AWS."""

    plan: str = Field(description="name of a tier under `plans`")


class NetworkSettings(_Settings):
    vpc_cidr: Annotated[str, AfterValidator(_vpc_cidr)] = "10.0.0.0/16"
    availability_zones: Annotated[int, Field(ge=2, le=6)] = 2


class DataSettings(_Settings):
    """PITR, streams and encryption are always on; these are what a stack may choose beyond them."""

    deletion_protection: bool = False
    customer_managed_key: bool = False


class LambdaSettings(_Settings):
    memory_mb: Annotated[int, Field(ge=128, le=10_240)] = 512
    timeout_seconds: Annotated[int, Field(ge=1, le=API_GATEWAY_MAX_INTEGRATION_TIMEOUT_SECONDS)] = Field(
        default=10, description="at most API Gateway's 29 s integration timeout"
    )
    reserved_concurrency: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="null leaves the function on the account's unreserved pool"
    )
    concurrency_alarm_share: Annotated[float, Field(gt=0, le=1)] = 0.8
    expected_duration_ms: Annotated[int, Field(ge=1, le=API_GATEWAY_MAX_INTEGRATION_TIMEOUT_SECONDS * 1000)] = Field(
        default=200, description="typical request duration, for capacity planning (Little's law)"
    )

    @property
    def concurrency_alarm_threshold(self) -> float | None:
        if self.reserved_concurrency is None:
            return None
        return self.reserved_concurrency * self.concurrency_alarm_share


def _stage_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", name):
        raise ValueError("must be 1-128 of A-Z a-z 0-9 _ - (API Gateway's stage names)")
    return name


class ApiGatewaySettings(_Settings):
    stage_name: Annotated[str, AfterValidator(_stage_name)]
    throttle: ThrottleSettings
    logging_level: LoggingLevel = LoggingLevel.ERROR
    manage_account_role: bool = Field(
        default=True,
        description="create the account-level CloudWatch role API Gateway needs for execution logs; "
        "false in shared accounts where another stack owns it",
    )


class WafSettings(_Settings):
    rate_limit: Annotated[int, Field(ge=WAF_MIN_LIMIT, le=2_000_000_000)] = Field(
        description="requests per IP per window before WAF blocks"
    )
    window_seconds: Annotated[int, AfterValidator(_allowed_waf_window)] = 300


class AppRateLimitSettings(_Settings):
    """The handler's own limiter (seed 003), per API key (or per IP without one), per fixed window."""

    requests: PositiveCount
    window_seconds: Annotated[int, Field(ge=1, le=MAX_RATE_LIMIT_WINDOW_SECONDS)]
    fail_open: bool = False


class AlarmSettings(_Settings):
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    period_seconds: Annotated[int, Field(ge=60, le=3600, multiple_of=60)] = 60
    lambda_errors: PositiveCount = 1
    duration_share_of_timeout: Annotated[float, Field(gt=0, lt=1)] = 0.8
    api_5xx: PositiveCount = Field(default=1, alias="api5xx")
    api_latency_p99_ms: Annotated[int, Field(ge=1)] = 2000
    api_4xx_share: Annotated[float, Field(gt=0, le=1)] = Field(default=0.1, alias="api4xxShare")
    api_4xx_min_requests: PositiveCount = Field(default=20, alias="api4xxMinRequests")
    waf_blocked_requests: PositiveCount = 100


class StackSettings(_Settings):
    """Everything one stack configures. Built by ``load_settings``; components receive validated values."""

    stack: str
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    network: NetworkSettings = NetworkSettings()
    data: DataSettings = DataSettings()
    lambda_: LambdaSettings = Field(default=LambdaSettings(), alias="lambda")
    api_gateway: ApiGatewaySettings
    plans: Annotated[dict[str, PlanSettings], Field(min_length=1)]
    consumers: Annotated[dict[str, ConsumerSettings], Field(min_length=1)]
    waf: WafSettings
    app_rate_limit: AppRateLimitSettings
    log_retention_days: Annotated[int, AfterValidator(_allowed_retention)] = 30
    alarms: AlarmSettings = AlarmSettings()
    tags: Annotated[
        dict[Annotated[str, AfterValidator(_tag_key)], Annotated[str, AfterValidator(_tag_value)]],
        AfterValidator(_tag_count),
    ] = Field(default_factory=dict)

    @property
    def _consumer_rates(self) -> list[float]:
        """The plan rate of each consumer's key (the stack creates one key per consumer)."""
        return [self.plans[consumer.plan].throttle.rate_limit for consumer in self.consumers.values()]

    @property
    def _consumer_bursts(self) -> list[int]:
        return [self.plans[consumer.plan].throttle.burst_limit for consumer in self.consumers.values()]

    @property
    def api_rate_limit(self) -> float:
        """Requests per second the API as a whole can let through: the lower of every method's stage bucket
        (``API_METHOD_COUNT`` x the stage's rate) and every consumer's key at its plan's rate."""
        return min(API_METHOD_COUNT * self.api_gateway.throttle.rate_limit, sum(self._consumer_rates))

    @property
    def api_burst_limit(self) -> int:
        """Requests the API as a whole can let through at once from full buckets, as ``api_rate_limit``."""
        return min(API_METHOD_COUNT * self.api_gateway.throttle.burst_limit, sum(self._consumer_bursts))

    @property
    def lambda_required_concurrency(self) -> int:
        """Little's law: executions in flight when the API runs at ``api_rate_limit`` for the expected duration."""
        return math.ceil(self.api_rate_limit * self.lambda_.expected_duration_ms / 1000)

    def capacity_warnings(self) -> list[str]:
        """Combinations that deploy and run, but throttle or block earlier than the numbers suggest."""
        warnings: list[str] = []
        stage = self.api_gateway.throttle
        reserved = self.lambda_.reserved_concurrency
        needed = self.lambda_required_concurrency
        if reserved is not None and reserved < needed:
            warnings.append(
                f"lambda.reservedConcurrency ({reserved}) is below what the API's rate needs: "
                f"{_num(self.api_rate_limit)} rps x {self.lambda_.expected_duration_ms} ms = {needed} concurrent "
                "executions; Lambda throttles the rest and API Gateway answers them 500. The API's rate is "
                + _api_limit_reason("rateLimit", stage.rate_limit, self._consumer_rates)
            )
        burst = self.api_burst_limit
        if reserved is not None and reserved < burst and reserved >= needed:
            warnings.append(
                f"lambda.reservedConcurrency ({reserved}) is below the API's burst ({burst}): a full burst arriving "
                "at once can be throttled by Lambda (500s) rather than by API Gateway (429s). The API's burst is "
                + _api_limit_reason("burstLimit", stage.burst_limit, self._consumer_bursts)
            )
        if reserved is not None and reserved > LAMBDA_DEFAULT_ACCOUNT_CONCURRENCY - LAMBDA_MIN_UNRESERVED_CONCURRENCY:
            warnings.append(
                f"lambda.reservedConcurrency ({reserved}) needs a regional Lambda concurrency quota of at least "
                f"{reserved + LAMBDA_MIN_UNRESERVED_CONCURRENCY} (Lambda keeps {LAMBDA_MIN_UNRESERVED_CONCURRENCY} "
                f"unreserved; the default quota is {LAMBDA_DEFAULT_ACCOUNT_CONCURRENCY:,}, and new accounts start "
                "lower), plus every other function's reservation: check `aws lambda get-account-settings` first"
            )
        waf_rps = self.waf.rate_limit / self.waf.window_seconds
        for name, plan in self.plans.items():
            if plan.throttle.burst_limit > stage.burst_limit:
                warnings.append(
                    f"plans.{name}.throttle.burstLimit ({plan.throttle.burst_limit}) exceeds the stage's "
                    f"burstLimit ({stage.burst_limit}): a key's burst on one method is throttled by that "
                    "method's stage bucket first"
                )
        outpaced = {name: p.throttle.rate_limit for name, p in self.plans.items() if p.throttle.rate_limit > waf_rps}
        if outpaced:
            rates = ", ".join(f"{name} {_num(rate)} rps" for name, rate in outpaced.items())
            warnings.append(
                f"waf allows one IP {waf_rps:.1f} rps on average ({self.waf.rate_limit} per "
                f"{self.waf.window_seconds} s), below the plan rates ({rates}): a consumer calling from one IP "
                "at its plan's rate is blocked by WAF (403) before its plan throttles it (429)"
            )
        return warnings


def _api_limit_reason(field: str, stage: float, consumers: Sequence[float]) -> str:
    """How the API-wide rate or burst (``field``: rateLimit or burstLimit) is made up, for a warning."""
    return (
        f"the lower of {API_METHOD_COUNT} methods x the stage's {field} {_num(stage)} (the stage throttle applies "
        f"per method) and the {field}s of the {len(consumers)} consumers' plans summed, {_num(sum(consumers))} "
        "(one key per consumer, as the stack creates them)"
    )


def _consistency_problems(settings: StackSettings) -> list[str]:
    """Rules across keys (README: Stacks and limits) that no single field can check, each with its full key path."""
    problems: list[str] = []
    stage = settings.api_gateway.throttle
    buckets = {"apiGateway.throttle": stage} | {f"plans.{n}.throttle": p.throttle for n, p in settings.plans.items()}
    for path, bucket in buckets.items():
        if bucket.burst_limit < bucket.rate_limit:
            problems.append(
                f"{NAMESPACE}{path}.burstLimit: must be at least its rateLimit ({_num(bucket.rate_limit)}), "
                f"a bucket smaller than one second of traffic throttles a steady client (got {bucket.burst_limit})"
            )
    function = settings.lambda_
    if function.expected_duration_ms >= function.timeout_seconds * 1000:
        problems.append(
            f"{NAMESPACE}lambda.expectedDurationMs: must be below lambda.timeoutSeconds "
            f"({function.timeout_seconds * 1000} ms): a typical request would time out "
            f"(got {function.expected_duration_ms})"
        )
    for name, plan in settings.plans.items():
        if not _is_resource_name(name):
            problems.append(f"{NAMESPACE}plans.{name}: tier names are 1-40 of [a-z0-9-], starting with a letter")
        if plan.throttle.rate_limit > stage.rate_limit:
            # The stage's rate is per method: a key calling one method at its plan's rate would be held below it.
            problems.append(
                f"{NAMESPACE}plans.{name}.throttle.rateLimit: must be at most the stage's "
                f"apiGateway.throttle.rateLimit ({_num(stage.rate_limit)}), which caps each method "
                f"(got {_num(plan.throttle.rate_limit)})"
            )
    for name, consumer in settings.consumers.items():
        if not _is_resource_name(name):
            problems.append(
                f"{NAMESPACE}consumers.{name}: consumer names are 1-40 of [a-z0-9-], starting with a letter"
            )
        if consumer.plan not in settings.plans:
            problems.append(
                f"{NAMESPACE}consumers.{name}.plan: must be one of {sorted(settings.plans)} (got {consumer.plan!r})"
            )
    return problems


def _num(value: float) -> str:
    return f"{value:g}"


def _is_resource_name(name: str) -> bool:
    return re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name) is not None


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def stack_of_file(file_name: str) -> str | None:
    """The stack whose stack file (``stack_file_name``) ``file_name`` is; None for any other file."""
    stack = file_name.removeprefix("Pulumi.").removesuffix(".yaml")
    return stack if stack and file_name == stack_file_name(stack) else None


def stack_names(root: Path) -> list[str]:
    """Every stack with a stack file in ``root``."""
    return sorted(stack for path in root.glob("Pulumi.*.yaml") if (stack := stack_of_file(path.name)))


# Keys of a stack file's `config:` map outside this project's namespace that the program reads.
_FOREIGN_KEYS = {"aws:region": "region"}


def load_settings(stack: str, config: Mapping[str, Any], source: str | None = None) -> StackSettings:
    """Validate a stack's config map (namespaced keys, as in the stack file or the Pulumi runtime).

    Values may be parsed objects (from YAML) or JSON strings (as the Pulumi runtime hands them over).
    ``source`` names the file in messages; it defaults to the stack file.
    """
    source = source or stack_file_name(stack)
    raw: dict[str, Any] = {"stack": stack}
    problems: list[str] = []
    for key, value in config.items():
        if key in _FOREIGN_KEYS:
            raw[_FOREIGN_KEYS[key]] = value
        elif (intended := _intended_key(key)) is not None:
            problems.append(f"{key}: not read by this program: its keys are spelled {NAMESPACE}<name>, e.g. {intended}")
        elif key.startswith(NAMESPACE):
            name = key.removeprefix(NAMESPACE)
            try:
                raw[name] = _decode(value)
            except ValueError:
                problems.append(f"{key}: is not valid JSON")
    if problems:
        raise ConfigError(source, problems)
    try:
        # JSON mode: strict about types (no "100" for 100) while enums still read from their strings.
        settings = StackSettings.model_validate_json(json.dumps(raw), strict=True)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(error) for error in exc.errors()]) from None
    problems = _consistency_problems(settings)
    if problems:
        raise ConfigError(source, problems)
    return settings


def _intended_key(key: str) -> str | None:
    """The key of this program that ``key`` was surely meant as, given with no namespace or a misspelt one; else None.

    Other namespaces (``aws:``, other providers', an ESC environment's) are left alone: they are not this program's.
    """
    namespace, colon, name = key.partition(":")
    if not colon:
        return f"{NAMESPACE}{key}"
    if namespace == PROJECT or _namespace_likeness(namespace) < 0.8:
        return None
    return f"{NAMESPACE}{name}"


def _namespace_likeness(namespace: str) -> float:
    """How alike ``namespace`` and the project's name are, ignoring case and punctuation (0 to 1)."""
    theirs, ours = (re.sub(r"[^a-z0-9]", "", text.lower()) for text in (namespace, PROJECT))
    return difflib.SequenceMatcher(None, theirs, ours).ratio()


def _decode(value: Any) -> Any:
    """The CLI hands every value over as a string (JSON for objects and numbers); the stack file, parsed."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        if value[:1] in ("{", "["):
            raise
        return value


def _describe(error: Any) -> str:
    # A dict key's own problem is located at (..., key, "[key]"): the key path is the same as its value's.
    location = [str(part) for part in error["loc"] if part != "[key]"]
    top = location[0] if location else ""
    if top in _FOREIGN_KEYS.values():
        key = next(k for k, v in _FOREIGN_KEYS.items() if v == top)
    else:
        key = f"{NAMESPACE}{top}" if top else f"{NAMESPACE}*"
    path = ".".join([key, *location[1:]])
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"{path}: unknown key (allowed keys are listed in Pulumi.yaml's config block)"
    if kind == "missing":
        return f"{path}: required key is missing"
    if isinstance(error.get("input"), str | int | float | bool) and kind not in ("model_type", _TAG_ERROR):
        return f"{path}: {message} (got {error['input']!r})"
    return f"{path}: {message}"
