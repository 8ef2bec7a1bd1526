"""Whether a release's `<env>-<sha>` tag is already in the registry, asked by the program before
it declares the image build (registry API v2, with the stack's registry credentials)."""

from __future__ import annotations

from collections.abc import Callable

from slipway.config import RegistryConfig
from slipway.delivery.registry import Credentials, Registry, RegistryError

# (registry, repository under the registry's server, tag) -> already pushed?
TagLookup = Callable[[RegistryConfig, str, str], bool]


def tag_in_registry(registry: RegistryConfig, repository: str, tag: str) -> bool:
    """True when the tag exists, and also when the registry cannot say: the caller uses it to
    leave an earlier build of that tag alone, and a registry that cannot answer now fails the
    push anyway."""
    host, _, path = registry.server.partition("/")
    credentials = (Credentials(registry.username, registry.password)
                   if registry.username and registry.password else None)
    try:
        return Registry(host, credentials).tag_exists(f"{path}/{repository}".strip("/"), tag)
    except (RegistryError, OSError):
        return True
