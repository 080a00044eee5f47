"""tiered-api's Lambda function: routes, models, store and rate limiter. Never imports Pulumi.

Public API (what the infrastructure, the local stack and the tests may import), by module:

- ``handler.app``: ``lambda_handler``, the function's entry point (reads its configuration on import).
- ``handler.config``: environment variable names (``ENV_*``, ``REQUIRED_VARIABLES``), ``load_settings``.
- ``handler.contract``: ``ROUTES``, ``Route``, ``QueryParameter``, ``Metric``, ``MAX_BODY_BYTES``.
- ``handler.models``: the pydantic models and ``gateway_request_schemas()`` (JSON Schema draft 4).
- ``handler.openapi``: ``build_openapi()``, the OpenAPI document (``make openapi`` writes it).
- ``handler.tables``: the tables' ``create_table`` shapes, ``ITEMS_YEAR_INDEX``, ``RATE_LIMIT_TTL_ATTRIBUTE``.
- ``handler.store``, ``handler.rate_limit``, ``handler.errors``: the building blocks, for tests and tools.

Modules starting with ``_`` are internal. Submodules are not imported here: the function's cold start
pays only for what ``handler.app`` needs, and the infrastructure never loads Powertools or boto3.
"""

__all__ = ["app", "config", "contract", "errors", "models", "openapi", "rate_limit", "store", "tables"]
