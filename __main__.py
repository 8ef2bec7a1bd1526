"""slipway: one stack = one environment's release pipeline. All logic lives in components/."""

import gc
import os
from pathlib import Path

import pulumi

from components.pipeline import Pipeline
from slipway.database_access import open_database_access
from slipway.errors import ConfigError
from slipway.stack import load_stack_config
from slipway.state_settings import unsafe_program_settings
from slipway.tunnel import TunnelError

# The SDKs and the config models are about a hundred thousand objects that live until the program
# exits. Frozen, the collector never walks them again: not in the collections the engine's
# callbacks set off, not in the interpreter's teardown (together about 0.2 s of every `pulumi up`).
# What is imported and made after this point is frozen at the end of the program.
gc.freeze()
project_dir = Path(__file__).resolve().parent
unsafe = unsafe_program_settings(pulumi.get_stack(), os.environ)
if unsafe:
    raise pulumi.RunError("slipway: " + "; ".join(unsafe) + ". Nothing was changed.")
try:
    config = load_stack_config(project_dir)
except ConfigError as error:
    # RunError: the message alone, no traceback; no resource has been declared yet.
    raise pulumi.RunError(str(error)) from None
try:
    # Held open until the program exits: the provider, the migration and the backup use it.
    tunnel = open_database_access(config)
except TunnelError as error:
    raise pulumi.RunError(f"slipway: {error}. Nothing was changed.") from None
# The builds are declared here; the rest of the release once they have reached the engine
# (components/pipeline.py), in the program's asynchronous entrypoint.
pipeline = Pipeline("app", config)


async def declare_the_release() -> None:
    await pipeline.declare_release()
    pipeline.export(config)
    gc.freeze()  # and what the program itself made, and the SDKs imported since, likewise


pulumi.run(declare_the_release)
