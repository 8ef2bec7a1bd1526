"""The whole stack config, parsed once into validated pydantic models before any resource.

models.py   the shape of every `slipway:*` section (what users write, what components take)
fields.py   value types, each with its own message
raw.py      reading Pulumi's raw values and the secrets
translate.py / fixes.py   problems a person can act on: key, what is wrong, the exact fix
rules.py    rules across sections;  release.py  which SHA, built or reused
parse.py    parse_stack_config, which ties them together
"""

from slipway.config.models import (
    DATABASE_URL_ENV,
    DEFAULT_MIGRATION_STEPS,
    DEFAULT_MIGRATION_TIMEOUT_MINUTES,
    NAMESPACE,
    BackupConfig,
    DatabaseConfig,
    GitHubConfig,
    MigrationConfig,
    ProxyConfig,
    RegistryConfig,
    Release,
    ServerConfig,
    ServiceConfig,
    StackConfig,
)
from slipway.config.parse import parse_stack_config

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_MIGRATION_STEPS",
    "DEFAULT_MIGRATION_TIMEOUT_MINUTES",
    "NAMESPACE",
    "BackupConfig",
    "DatabaseConfig",
    "GitHubConfig",
    "MigrationConfig",
    "ProxyConfig",
    "RegistryConfig",
    "Release",
    "ServerConfig",
    "ServiceConfig",
    "StackConfig",
    "parse_stack_config",
]
