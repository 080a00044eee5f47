"""Draw ``docs/architecture.png`` from code (``make docs``): the request path and what watches it.

Needs the ``diagrams`` package (``requirements-docs.txt``) and Graphviz's ``dot`` (Debian: ``graphviz``); both are
installed by ``make docs``. Run from any directory: the picture lands beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from diagrams import Cluster, Diagram, Edge
from diagrams.aws.compute import Lambda
from diagrams.aws.database import Dynamodb
from diagrams.aws.devtools import XRay
from diagrams.aws.general import Users
from diagrams.aws.integration import SNS
from diagrams.aws.management import Cloudwatch, CloudwatchAlarm, CloudwatchLogs
from diagrams.aws.network import APIGateway, Endpoint
from diagrams.aws.security import WAF

OUTPUT = Path(__file__).resolve().parent / "architecture"

GRAPH = {
    "newrank": "true",
    "fontsize": "22",
    "fontname": "Helvetica",
    "pad": "0.4",
    "nodesep": "0.8",
    "ranksep": "1.1",
    "dpi": "110",
}
NODE = {"fontsize": "13", "fontname": "Helvetica"}
EDGE = {"fontsize": "12", "fontname": "Helvetica"}
REQUEST = {"color": "#1f4e79", "penwidth": "2.2", "weight": "20"}
TELEMETRY = {"color": "#7f7f7f", "style": "dashed"}


def draw(output: Path = OUTPUT) -> Path:
    with Diagram(
        "tiered-api: one stack (dev and prod differ only in their stack files' limits)",
        filename=str(output),
        outformat="png",
        show=False,
        direction="LR",
        graph_attr=GRAPH,
        node_attr=NODE,
        edge_attr=EDGE,
    ):
        clients = Users("API clients\n(x-api-key)")
        waf = WAF("AWS WAF web ACL\nper-IP rate rule\n+ managed rules\n(blocks: 403)")
        api = APIGateway(
            "API Gateway REST API\nregional stage, access logs\nusage plans: Standard, Premium\n"
            "API keys, quotas (429)\nstage throttle (429)"
        )
        with Cluster("VPC: private subnets across AZs, no internet route"):
            function = Lambda("Lambda (Python, Powertools)\nreserved concurrency\napp rate limiter (429)")
            gateway_endpoint = Endpoint("DynamoDB\ngateway endpoint")
        with Cluster("DynamoDB (PITR, streams, encryption)"):
            items = Dynamodb("items table\n+ year index")
            counters = Dynamodb("rate-limit table\n(TTL clean-up)")
        with Cluster("Observability"):
            logs = CloudwatchLogs("CloudWatch Logs\nLambda JSON, access,\nVPC flow, WAF")
            traces = XRay("X-Ray traces\nend to end")
            dashboard = Cloudwatch("CloudWatch dashboard\n+ EMF metrics")
            alarms = CloudwatchAlarm("alarms\nconcurrency, errors,\nthrottles, 5XX, p99,\n4XX share, DynamoDB, WAF")
            topic = SNS("SNS alarm topic")

        clients >> Edge(label="HTTPS", **REQUEST) >> waf >> Edge(**REQUEST) >> api
        api >> Edge(label="proxy integration", **REQUEST) >> function
        function >> Edge(**REQUEST) >> gateway_endpoint
        gateway_endpoint >> Edge(**REQUEST) >> items
        gateway_endpoint >> Edge(**REQUEST) >> counters

        # The observability row sits under the request path: invisible edges from each column's left neighbour put
        # it in its column, and the telemetry edges move nothing (constraint false).
        for before, lower in ((clients, logs), (waf, traces), (api, dashboard)):
            before >> Edge(style="invis") >> lower
        for source in (waf, api, function):
            source >> Edge(constraint="false", **TELEMETRY) >> logs
        for source in (api, function):
            source >> Edge(constraint="false", **TELEMETRY) >> traces
        function >> Edge(label="EMF metrics", constraint="false", **TELEMETRY) >> dashboard
        dashboard >> Edge(**TELEMETRY) >> alarms
        alarms >> Edge(label="notify", **TELEMETRY) >> topic
    return output.with_suffix(".png")


if __name__ == "__main__":
    sys.stdout.write(f"wrote {draw()}\n")
