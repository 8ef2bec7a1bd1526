"""Whether a release's `<env>-<sha>` tag is already in the registry, asked by the program before
it declares the image build (registry API v2, with the stack's registry credentials)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pulumi

from slipway.config import RegistryConfig
from slipway.delivery.registry import Credentials, ImageRef, Registry, RegistryError

# (registry, repository under the registry's server, tag) -> already pushed?
TagLookup = Callable[[RegistryConfig, str, str], bool]

# Every preview and up asks, before anything is declared: a registry that does not answer soon
# must not hold the run up for long (its push fails anyway).
LOOKUP_TIMEOUT_SECONDS = 3.0

_clients: dict[tuple[str, str | None], Registry] = {}  # one per registry: its token is reused
_clients_lock = threading.Lock()


def tag_in_registry(registry: RegistryConfig, repository: str, tag: str) -> bool:
    """True when the tag exists, and also, with a warning, when the registry cannot say: the
    answer only decides whether an earlier build of that tag is left as it is."""
    ref = ImageRef.parse(f"{registry.server}/{repository}:{tag}")
    key = (registry.server, registry.username)
    with _clients_lock:  # the program asks for every service at once
        if key not in _clients:
            credentials = (Credentials(registry.username, registry.password)
                           if registry.username and registry.password else None)
            _clients[key] = Registry(ref.host, credentials, timeout=LOOKUP_TIMEOUT_SECONDS)
        client = _clients[key]
    try:
        return client.tag_exists(ref.repository, ref.tag)
    except (RegistryError, OSError) as err:
        pulumi.log.warn(f"slipway: the registry did not say whether {ref} exists"
                        f" ({err}); if it was built before, its build keeps the builder it was"
                        " made with")
        return True
