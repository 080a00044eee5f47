"""DynamoDB rows of the security checklist."""

from __future__ import annotations

from collections.abc import Iterator

from handler.tables import ITEMS_KEY
from policy.context import StackContext
from policy.graph import Finding, ResourceLike, StackGraph, T, flag, known_text, mapping
from policy.rules._base import resource_rule, stack_rule

__all__ = ["RULES"]

ON_DEMAND = "PAY_PER_REQUEST"
# A provisioned table's two capacities: autoscaling one leaves the other fixed.
TABLE_CAPACITIES = ("dynamodb:table:ReadCapacityUnits", "dynamodb:table:WriteCapacityUnits")


@resource_rule("DDB-PITR", "Point-in-time recovery is on for every table", T.TABLE)
def point_in_time_recovery(table: ResourceLike, _: StackContext) -> Iterator[str]:
    if not flag(mapping(table.props.get("pointInTimeRecovery")).get("enabled")):
        yield f"table {table.name}: point-in-time recovery is off"


@stack_rule("DDB-SSE", "Server-side encryption is on; with a rotating customer-managed key where the stack asks")
def encryption(graph: StackGraph, context: StackContext) -> Iterator[Finding]:
    wants_key = context.settings.data.customer_managed_key
    for table in graph.of_type(T.TABLE):
        sse = mapping(table.props.get("serverSideEncryption"))
        if not flag(sse.get("enabled")):
            yield Finding(f"table {table.name}: serverSideEncryption.enabled is not true", table.urn)
            continue
        keys = graph.dependencies(table, T.KMS_KEY)
        # Where the stack does not ask for its own key, a deployed table reports AWS's managed key: that is fine.
        if wants_key and known_text(sse, "kmsKeyArn") == "":  # the key's ARN is unknown until it exists
            yield Finding(f"table {table.name}: data.customerManagedKey is true but no KMS key is set", table.urn)
        elif wants_key and not keys:
            yield Finding(f"table {table.name} is encrypted with a KMS key this stack does not manage", table.urn)
        for key in keys:
            if not flag(key.props.get("enableKeyRotation")):
                yield Finding(f"KMS key {key.name} of table {table.name} does not rotate", key.urn)


@stack_rule("DDB-BILLING", "Tables are on-demand, or provisioned with autoscaling of reads and writes")
def billing(graph: StackGraph, _: StackContext) -> Iterator[Finding]:
    targets = graph.of_type(T.SCALING_TARGET)
    for table in graph.of_type(T.TABLE):
        if table.props.get("billingMode") == ON_DEMAND:
            continue
        scaled = {
            t.props.get("scalableDimension")
            for t in targets
            if t.props.get("serviceNamespace") == "dynamodb" and graph.depends_on(t, table)
        }
        fixed = [capacity for capacity in TABLE_CAPACITIES if capacity not in scaled]
        if fixed:
            yield Finding(
                f"table {table.name}: billing mode {table.props.get('billingMode')!r} without autoscaling of "
                f"{', '.join(fixed)}",
                table.urn,
            )


@resource_rule("DDB-STREAM", "The items table has a stream", T.TABLE)
def items_stream(table: ResourceLike, _: StackContext) -> Iterator[str]:
    if table.props.get("hashKey") != ITEMS_KEY:
        return
    if not flag(table.props.get("streamEnabled")) or not table.props.get("streamViewType"):
        yield f"items table {table.name} has no stream (streamEnabled and streamViewType)"


@resource_rule("DDB-DELETION", "Deletion protection is on where the stack asks", T.TABLE)
def deletion_protection(table: ResourceLike, context: StackContext) -> Iterator[str]:
    if context.settings.data.deletion_protection and not flag(table.props.get("deletionProtectionEnabled")):
        yield f"table {table.name}: data.deletionProtection is true but deletionProtectionEnabled is not"


RULES = [point_in_time_recovery, encryption, billing, items_stream, deletion_protection]
