"""The registry check: the sandbox's real registry (no auth) and loopback registries with
basic and bearer-token auth."""

from __future__ import annotations

import secrets
import ssl
import subprocess
from pathlib import Path

import pytest

from slipway.delivery.registry import (
    Credentials,
    ImageRef,
    Registry,
    RegistryError,
    is_loopback,
    parse_challenge,
)
from slipway.secret import Secret
from tests.delivery.registry_fakes import AuthRegistry, base_url, delete_tag, push_tiny_image


def test_image_ref() -> None:
    ref = ImageRef.parse("registry.digitalocean.com/team/app-backend:prod-" + "a" * 40)
    assert (ref.host, ref.repository, ref.tag) == ("registry.digitalocean.com", "team/app-backend",
                                                   "prod-" + "a" * 40)
    assert ImageRef.parse("127.0.0.1:5000/x/y:t").host == "127.0.0.1:5000"
    for bad in ("noslash:tag", "host/repo", "host/repo:tag@sha256:abc"):
        with pytest.raises(ValueError):
            ImageRef.parse(bad)


def test_loopback_and_challenges() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost") and is_loopback("[::1]:5000")
    assert not is_loopback("registry.digitalocean.com") and not is_loopback("10.0.0.1:5000")
    assert parse_challenge('Bearer realm="https://a/t",service="reg",scope="repository:x:pull"') == (
        "bearer", {"realm": "https://a/t", "service": "reg", "scope": "repository:x:pull"})
    assert Registry("registry.example.com").scheme == "https"
    assert Registry("127.0.0.1:5000").scheme == "https"  # always first; see the fallback tests


def test_real_registry_tag_present_then_deleted(sandbox: dict[str, str]) -> None:
    host = sandbox["SANDBOX_REGISTRY"]
    repository = f"delivery-{secrets.token_hex(3)}/backend"
    sha = secrets.token_hex(20)
    push_tiny_image(host, repository, f"prod-{sha}")
    registry = Registry(host)
    assert registry.tag_exists(repository, f"prod-{sha}")
    assert registry.scheme == base_url(host).split(":", 1)[0]  # the sandbox's speaks TLS
    assert not registry.tag_exists(repository, f"prod-{'0' * 40}")
    assert registry.tags(repository) == [f"prod-{sha}"]
    delete_tag(host, repository, f"prod-{sha}")
    assert not registry.tag_exists(repository, f"prod-{sha}")
    assert registry.tags(f"delivery-{secrets.token_hex(3)}/nothing") == []


def test_one_tls_context_for_every_request(sandbox: dict[str, str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Each TLS context loads the system's CA certificates (tens of ms, on the critical path of a
    release before its builds are declared): every request shares one."""
    loads: list[ssl.SSLContext] = []
    load = ssl.SSLContext.load_default_certs

    def counting(context: ssl.SSLContext, purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH) -> None:
        loads.append(context)
        load(context, purpose)

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", counting)
    host = sandbox["SANDBOX_REGISTRY"]
    repository = f"delivery-{secrets.token_hex(3)}/backend"
    for registry in (Registry(host), Registry(host)):
        assert not registry.tag_exists(repository, "prod-" + "0" * 40)
        assert registry.tags(repository) == []
    assert len(loads) <= 1  # one, unless an earlier request here loaded them already


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_auth(mode: str) -> None:
    password = "pw-" + secrets.token_hex(12)
    fake = AuthRegistry(mode, "ci@example.com", password, {"team/app:prod-1"})
    with fake.running():
        registry = Registry(fake.host, Credentials("ci@example.com", Secret(password)))
        assert registry.tag_exists("team/app", "prod-1")
        assert not registry.tag_exists("team/app", "prod-2")
        assert registry.scheme == "http"  # a loopback registry without TLS, as Docker allows
        if mode == "bearer":
            assert fake.token_requests and "scope=repository%3Ateam%2Fapp%3Apull" in fake.token_requests[0]
        # Asked once, then reused.
        assert sum(1 for a in fake.seen_auth if a == "") == 1


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_wrong_or_missing_credentials_fail_without_the_password(mode: str) -> None:
    password = "pw-" + secrets.token_hex(12)
    fake = AuthRegistry(mode, "ci", password, {"team/app:prod-1"})
    with fake.running():
        wrong = "wrong-" + secrets.token_hex(12)
        with pytest.raises(RegistryError) as err:
            Registry(fake.host, Credentials("ci", Secret(wrong))).tag_exists("team/app", "prod-1")
        assert wrong not in str(err.value) and password not in str(err.value)
        with pytest.raises(RegistryError, match="no registry credentials are configured"):
            Registry(fake.host).tag_exists("team/app", "prod-1")


def test_credentials_never_travel_over_plain_http_to_another_host() -> None:
    with pytest.raises(RegistryError, match="plain HTTP"):
        Registry._check_credentials_may_travel("http", "registry.example.com")
    Registry._check_credentials_may_travel("https", "registry.example.com")
    Registry._check_credentials_may_travel("http", "127.0.0.1:5000")


def test_unreachable_registry_is_a_clear_error() -> None:
    with pytest.raises(RegistryError, match="cannot reach the registry at 127.0.0.1:9"):
        Registry("127.0.0.1:9").tag_exists("x/y", "z")


def test_an_untrusted_certificate_is_an_error_never_a_downgrade(tmp_path: Path) -> None:
    """Only a registry that does not speak TLS at all is asked over HTTP; a TLS registry whose
    certificate does not verify is refused (no silent fallback)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    fake = AuthRegistry("basic", "ci", "pw-" + secrets.token_hex(8), set())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    fake.server.socket = context.wrap_socket(fake.server.socket, server_side=True)
    with fake.running():
        registry = Registry(fake.host)
        with pytest.raises(RegistryError, match="cannot reach the registry"):
            registry.tag_exists("team/app", "prod-1")
        assert registry.scheme == "https"
        assert fake.seen_auth == []
