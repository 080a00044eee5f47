"""``make plan STACK=<name> [CONFIG=<file>] [JSON=1]``: what a stack would create, offline.

Runs the program under mocks (no Pulumi CLI, no credentials), then prints the resources it would create with the
settings that matter, the stack's effective limits and its capacity warnings. Exit 0 when the configuration is
valid, 2 with the validation message (no traceback) when it is not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from components.settings import API_METHOD_COUNT, ConfigError, StackSettings
from tools.mocks import ProgramRun, RecordedResource, run_program

__all__ = ["limits_table", "main", "resource_rows"]

# Per resource type, the inputs a reviewer wants to see in a plan.
_SHOWN_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:apigateway/usagePlan:UsagePlan": ("throttleSettings", "quotaSettings"),
    "aws:apigateway/stage:Stage": ("stageName", "xrayTracingEnabled"),
    "aws:apigateway/methodSettings:MethodSettings": ("methodPath", "settings"),
    "aws:apigateway/restApi:RestApi": ("apiKeySource", "endpointConfiguration"),
    "aws:apigateway/method:Method": ("httpMethod", "apiKeyRequired"),
    "aws:lambda/function:Function": (
        "runtime",
        "architectures",
        "memorySize",
        "timeout",
        "reservedConcurrentExecutions",
    ),
    "aws:dynamodb/table:Table": ("billingMode", "pointInTimeRecovery", "deletionProtectionEnabled"),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("metricName", "threshold", "comparisonOperator"),
    "aws:sns/topicSubscription:TopicSubscription": ("protocol", "endpoint"),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone"),
    "aws:kms/key:Key": ("enableKeyRotation",),
}


def resource_rows(run: ProgramRun) -> list[dict[str, Any]]:
    """One row per resource: type, name and the inputs that matter for its type."""
    return [
        {"type": r.type, "name": r.name, "settings": _shown(r)}
        for r in run.resources
        if r.custom  # components are groupings; their children are what gets created
    ]


def _shown(resource: RecordedResource) -> dict[str, Any]:
    return {key: resource.inputs[key] for key in _SHOWN_INPUTS.get(resource.type, ()) if key in resource.inputs}


def limits_table(settings: StackSettings) -> list[tuple[str, str]]:
    """The stack's effective limits, as (what, value) rows."""
    stage = settings.api_gateway.throttle
    lam = settings.lambda_
    rows = [("stage throttle", f"{stage.rate_limit:g} rps, burst {stage.burst_limit}, per method")]
    rows.append(
        (
            "api as a whole",
            f"{settings.api_rate_limit:g} rps, burst {settings.api_burst_limit} "
            f"(the lower of {API_METHOD_COUNT} methods x stage and the consumers' plans summed)",
        )
    )
    for name, plan in settings.plans.items():
        rows.append(
            (
                f"plan {name}",
                f"{plan.throttle.rate_limit:g} rps, burst {plan.throttle.burst_limit}, "
                f"quota {plan.quota.limit:,} per {plan.quota.period.value.lower()}",
            )
        )
    for name, consumer in settings.consumers.items():
        rows.append((f"consumer {name}", f"plan {consumer.plan}"))
    rows.append(("waf per IP", f"{settings.waf.rate_limit:,} per {settings.waf.window_seconds} s, then 403"))
    reserved = "unreserved" if lam.reserved_concurrency is None else str(lam.reserved_concurrency)
    threshold = lam.concurrency_alarm_threshold
    alarm = "" if threshold is None else f", alarm at {threshold:g} ({lam.concurrency_alarm_share:.0%})"
    rows.append(
        ("lambda concurrency", f"{reserved}{alarm}; the API's rate needs ~{settings.lambda_required_concurrency}")
    )
    rows.append(("lambda memory / timeout", f"{lam.memory_mb} MB / {lam.timeout_seconds} s"))
    rate = settings.app_rate_limit
    mode = "fail open" if rate.fail_open else "fail closed"
    rows.append(("app rate limit", f"{rate.requests:,} per {rate.window_seconds} s per key or IP, {mode}"))
    rows.append(("log retention", f"{settings.log_retention_days} days"))
    data = settings.data
    rows.append(
        (
            "dynamodb",
            "on-demand, PITR, streams"
            + (", deletion protection" if data.deletion_protection else "")
            + (", customer-managed KMS key" if data.customer_managed_key else ", AWS-managed key (aws/dynamodb)"),
        )
    )
    return rows


def _render_text(run: ProgramRun) -> str:
    rows = resource_rows(run)
    lines = [f"stack {run.stack} ({run.settings.region}): {len(rows)} resources", ""]
    type_width = max((len(row["type"]) for row in rows), default=4)
    name_width = max((len(row["name"]) for row in rows), default=4)
    for row in rows:
        shown = ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in row["settings"].items())
        lines.append(f"  {row['type']:<{type_width}}  {row['name']:<{name_width}}  {shown}".rstrip())
    lines += ["", "effective limits:"]
    limits = limits_table(run.settings)
    width = max(len(what) for what, _ in limits)
    lines += [f"  {what:<{width}}  {value}" for what, value in limits]
    warnings = run.settings.capacity_warnings()
    lines += ["", f"capacity warnings: {len(warnings)}"]
    lines += [f"  ! {warning}" for warning in warnings]
    return "\n".join(lines)


def _render_json(run: ProgramRun) -> str:
    document = {
        "stack": run.stack,
        "region": run.settings.region,
        "resources": resource_rows(run),
        "limits": dict(limits_table(run.settings)),
        "settings": run.settings.model_dump(mode="json", by_alias=True),
        "warnings": run.settings.capacity_warnings(),
    }
    return json.dumps(document, indent=2, default=str)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make plan", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--config", type=Path, help="another stack file to try instead of the stack's own")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        run = run_program(args.stack, config_file=args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    print(_render_json(run) if args.json else _render_text(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
