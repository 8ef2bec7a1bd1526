"""The program's question before it declares a build: is `<env>-<sha>` in the registry already
(slipway.pushed_tags)? Asked of the sandbox's real registry and of a loopback one with auth."""

from __future__ import annotations

import secrets
import socket

from slipway.config import RegistryConfig
from slipway.pushed_tags import tag_in_registry
from slipway.secret import Secret
from tests.delivery.registry_fakes import AuthRegistry, push_tiny_image


def test_a_pushed_tag_is_found_and_an_absent_one_is_not(sandbox: dict[str, str]) -> None:
    host, team = sandbox["SANDBOX_REGISTRY"], f"pt-{secrets.token_hex(3)}"
    push_tiny_image(host, f"{team}/backend", "dev-" + "a" * 40)
    registry = RegistryConfig(server=f"{host}/{team}")
    assert tag_in_registry(registry, "backend", "dev-" + "a" * 40)
    assert not tag_in_registry(registry, "backend", "dev-" + "b" * 40)
    assert not tag_in_registry(registry, "frontend", "dev-" + "a" * 40)


def test_the_stacks_credentials_are_used() -> None:
    password = "regpw-" + secrets.token_hex(8)
    fake = AuthRegistry("bearer", "ci@example.com", password, {"team/backend:dev-x"})
    with fake.running():
        registry = RegistryConfig(server=f"{fake.host}/team", username="ci@example.com",
                                  password=Secret(password))
        assert tag_in_registry(registry, "backend", "dev-x")
        assert not tag_in_registry(registry, "backend", "dev-y")


def test_a_registry_that_cannot_answer_counts_as_pushed() -> None:
    """The answer only keeps an earlier build as it is; the push would fail anyway."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert tag_in_registry(RegistryConfig(server=f"127.0.0.1:{port}/team"), "backend", "dev-x")
