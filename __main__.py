"""slipway: one stack = one environment's release pipeline. All logic lives in components/."""

from pathlib import Path

import pulumi

from components.pipeline import Pipeline
from slipway.errors import ConfigError
from slipway.stack import load_stack_config

project_dir = Path(__file__).resolve().parent
try:
    config = load_stack_config(project_dir)
except ConfigError as error:
    # RunError: the message alone, no traceback; no resource has been declared yet.
    raise pulumi.RunError(str(error)) from None
pipeline = Pipeline("app", config)
pipeline.export(config)
