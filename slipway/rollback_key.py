"""The stack's rollback key: an SSH key that can do one thing on the stack's servers, switch a
service back to the release it still keeps (`slipway:rollbackKey`).

It is derived from the stack's deploy keys, so it needs no state of its own: the same deploy keys
give the same rollback key on every run (nothing changes on a no-op `up`); a new deploy key gives
a new one, installed and published by the next `up`. Knowing it reveals nothing of a deploy key
(HMAC-SHA256). On a server it sits in the deploy user's `authorized_keys` under `restrict` and a
forced command (slipway.commands.rollback_gate); the stack publishes it to its GitHub environment
as `SLIPWAY_ROLLBACK_KEY`, so that the rollback workflow switches the servers back without
waiting for the stack's passphrase to decrypt the deploy keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from slipway.secret import Secret

ENV_VAR = "SLIPWAY_ROLLBACK_KEY"  # the GitHub environment secret, and what `slipway rollback` reads
_CONTEXT = b"slipway rollback key v1"
_KEY_TYPE = b"ssh-ed25519"


@dataclass(frozen=True)
class RollbackKey:
    private: Secret  # OpenSSH private key text, unencrypted (it lives in secrets only)
    public: str  # "ssh-ed25519 AAAA... slipway-rollback-<environment>" (each server's line is named
    # by its own comment: slipway.commands.rollback_gate.line_comment)


def comment(environment: str) -> str:
    """How the key names itself (its OpenSSH comment)."""
    return f"slipway-rollback-{environment}"


def derive(stack: str, environment: str, deploy_keys: Iterable[Secret]) -> RollbackKey:
    """The rollback key of `stack`, from every deploy key it uses (sorted: their order in the
    config does not matter)."""
    # Imported here: `slipway rollback` reads ENV_VAR from this module and starts on its path.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    material = b"\0".join(sorted(k.reveal().strip().encode() for k in deploy_keys))
    seed = hmac.new(material, _CONTEXT + b"\0" + stack.encode(), hashlib.sha256).digest()
    public_raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)
    label = comment(environment)
    public_blob = _string(_KEY_TYPE) + _string(public_raw)
    public = f"{_KEY_TYPE.decode()} {base64.b64encode(public_blob).decode()} {label}"
    return RollbackKey(private=Secret(_openssh_private(seed, public_raw, label)), public=public)


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _openssh_private(seed: bytes, public_raw: bytes, label: str) -> str:
    """The key in OpenSSH's own format (PROTOCOL.key), unencrypted. Written here rather than by a
    library because its check integers must not be random: the text is a GitHub secret's value,
    and a new value on every run would make every `up` change it."""
    check = hashlib.sha256(b"check\0" + seed).digest()[:4]
    private = (check + check + _string(_KEY_TYPE) + _string(public_raw) + _string(seed + public_raw)
               + _string(label.encode()))
    private += bytes(range(1, 1 + (-len(private) % 8)))  # padding to the cipher "none"'s block of 8
    body = (b"openssh-key-v1\0" + _string(b"none") + _string(b"none") + _string(b"")
            + struct.pack(">I", 1) + _string(_string(_KEY_TYPE) + _string(public_raw)) + _string(private))
    encoded = base64.b64encode(body).decode()
    lines = [encoded[i:i + 70] for i in range(0, len(encoded), 70)]
    return "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----", ""])
