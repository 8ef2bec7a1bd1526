"""Resource properties as plain Python values that still say which parts are secret or unknown.

The engine sends a policy pack every property with its secret marker kept (a secret is
`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": ...}`),
but pulumi-policy's validation path (`Analyze`, `AnalyzeStack`) drops the marker while
deserializing, so `args.props` cannot tell a secret from plain text. `install_secret_marking`
wraps that deserializer: every string inside a secret arrives as a `SecretStr`, which is a
`str` in every other respect. `plain` then turns the SDK's unknown-checking proxies into plain
dicts and lists, with each value that is unknown during preview as an `Unknown` (which
remembers whether the engine knew it to be secret), so rules can read every property without
the SDK aborting them at the first unknown one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# pulumi/sdk/go/common/resource/properties.go
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a type signature, not a secret)

# pulumi_policy.proxy: the sentinels the engine sends for values unknown during preview.
UNKNOWN_SENTINELS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
    "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
    "e48ece36-62e2-4504-bad9-02848725956a",  # archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
})


class SecretStr(str):
    """A string value the engine holds as a secret."""

    __slots__ = ()


class InheritedSecretStr(SecretStr):
    """A string that is secret only because an object around it is (e.g. the command
    provider makes a whole `connection` secret, host and user included)."""

    __slots__ = ()


class Unknown:
    """A value not known until the update runs (preview). `secret` is True only if the engine
    sent it inside a secret envelope, which it does not for outputs still unknown (their
    secretness is known only once they are): an unknown value is never judged plain text."""

    __slots__ = ("secret",)

    def __init__(self, secret: bool = False) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "Unknown(secret=True)" if self.secret else "Unknown()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and other.secret == self.secret

    def __hash__(self) -> int:
        return hash((Unknown, self.secret))


def is_secret(value: object) -> bool:
    return isinstance(value, SecretStr) or (isinstance(value, Unknown) and value.secret)


def _inherit(value: Any) -> Any:
    """Everything inside a secret object is secret."""
    if isinstance(value, SecretStr):
        return value
    if isinstance(value, str):
        return InheritedSecretStr(value)
    if isinstance(value, list):
        return [_inherit(v) for v in value]
    if isinstance(value, dict):
        return {k: _inherit(v) for k, v in value.items()}
    return value


def mark_secrets(value: Any) -> Any:
    """Raw wire properties (JSON from the engine) with every secret envelope replaced by its
    value: a secret string becomes a `SecretStr`, the strings inside a secret object or list
    `InheritedSecretStr`s. Asset and archive envelopes are left as they are."""
    if isinstance(value, list):
        return [mark_secrets(v) for v in value]
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            inner = mark_secrets(value.get("value"))
            if isinstance(inner, str):
                return inner if isinstance(inner, SecretStr) else SecretStr(inner)
            return _inherit(inner)
        return {k: mark_secrets(v) for k, v in value.items()}
    return value


def plain(value: Any) -> Any:
    """Plain dicts/lists/scalars from `args.props` (or any nested proxy or ordinary container),
    with unknowns as `Unknown`. Never raises the SDK's UnknownValueError."""
    from pulumi_policy.proxy import _DictProxy, _ListProxy  # the SDK's unknown-checking proxies

    if isinstance(value, _DictProxy):
        return {k: plain(v) for k, v in value["__target"].items()}
    if isinstance(value, _ListProxy):
        return [plain(v) for v in value["__target"]]
    if isinstance(value, str):
        if value in UNKNOWN_SENTINELS:
            return Unknown(secret=isinstance(value, SecretStr))
        return value
    if isinstance(value, Mapping):
        return {k: plain(value[k]) for k in value}
    if isinstance(value, Sequence):
        return [plain(v) for v in value]
    return value


_installed: list[Callable[..., Any]] = []


def install_secret_marking() -> None:
    """Make pulumi-policy's validation path deliver secrets as `SecretStr` (idempotent).

    Fails loudly if the pinned SDK no longer has the function this wraps: a policy that
    silently saw no secrets would pass everything.
    """
    from pulumi_policy import policy as sdk

    if _installed:
        return
    original = getattr(sdk, "deserialize_properties", None)
    if not callable(original):
        raise RuntimeError(
            "pulumi_policy.policy.deserialize_properties is gone: the slipway policy pack cannot see "
            "which properties are secret with this pulumi-policy version (pinned: see policy/README.md)"
        )

    def deserialize_properties(props: dict[str, Any], proxy_secrets: bool = False) -> Any:
        if proxy_secrets:  # remediation path: the SDK's own secret proxies
            return original(props, proxy_secrets)
        return original(mark_secrets(props), False)

    sdk.deserialize_properties = deserialize_properties  # type: ignore[attr-defined]
    _installed.append(original)
