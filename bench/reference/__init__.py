"""The seed programs tiered-api replaces, reproduced faithfully so they can be measured next to it.

Nothing heavy is imported here: cold-start children import ``bench.reference.sample_handler`` through it.
"""

# The environment of ``seed_limited_sample`` (the sample behind seed 003's limiter), set by ``bench.environment``.
ENV_SEED_TABLE = "SEED_RATE_LIMIT_TABLE_NAME"
ENV_SEED_REQUESTS = "SEED_RATE_LIMIT_REQUESTS"
ENV_SEED_WINDOW_SECONDS = "SEED_RATE_LIMIT_WINDOW_SECONDS"
