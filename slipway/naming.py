"""Names other tools rely on to find slipway's resources in a stack or a preview.

The policy pack and the PR plan comment recognise the migration and the deploys by these;
the components build their names from them, and a unit test holds the two together.
"""

import zlib

MIGRATION_PLAN_ENV = "SLIPWAY_MIGRATION_PLAN"  # the runner's plan, in the command's environment
MIGRATION_COMMAND_SUFFIX = "-migration-run"  # `<pipeline>-migration-run`
DEPLOY_COMMAND_SUFFIX = "-deploy"  # `<pipeline>-<service>-deploy`
STAGE_COMMAND_SUFFIX = "-stage"  # `<pipeline>-<service>-stage`: pull and create, during the migration
DATABASE_URL_ENV = "DATABASE_URL"  # the app's (and the migration's) database URL
PIN_NOTICE = "slipway: pinned:"  # how the program starts its warning about a rollback pin


def default_tunnel_port(stack: str) -> int:
    """The database tunnel's local port when `database.tunnelPort` is unset: fixed per stack
    (the postgresql provider's config in the state names it), spread over 20000-29999."""
    return 20000 + zlib.crc32(stack.encode()) % 10000
