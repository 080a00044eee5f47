"""tiered-api: reads the stack's settings, composes the components, exports the outputs. Nothing else."""

from typing import Any

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env

from components.settings import load_settings


def _stack_config() -> dict[str, Any]:
    # The whole config map, namespaced keys included, so that unknown keys are reported rather than ignored.
    return {**get_config_env(), **CONFIG.get()}


settings = load_settings(pulumi.get_stack(), _stack_config())
for warning in settings.capacity_warnings():
    pulumi.log.warn(warning)
