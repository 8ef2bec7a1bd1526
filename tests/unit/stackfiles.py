"""Loads the committed Pulumi.<stack>.yaml files the way the Pulumi CLI hands them over."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from slipway.gitinfo import Checkout

REPO = Path(__file__).resolve().parents[2]
SHA = "3f6c1c1e9a7b4d2e8f0a1b2c3d4e5f60718293a4"
OLD_SHA = "9a8b7c6d5e4f30211234567890abcdef12345678"

# Test values for the secrets a stack needs; they are what the assertions hunt for.
SECRETS = {
    "slipway:registryPassword": "dop_v1_registry-token-5ecret",
    "slipway:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n"
                             "-----END OPENSSH PRIVATE KEY-----\n",
    "slipway:databaseAdminPassword": "doadmin-pa55word-xyz",
    "slipway:githubToken": "ghp_t0kenvalue123456",
    "slipway:secrets": json.dumps({"SECRET_KEY": "django-s3cret-key-value-0123456789"}),
}
SECRET_VALUES = [
    "dop_v1_registry-token-5ecret", "b3BlbnNzaC1rZXk=", "doadmin-pa55word-xyz",
    "ghp_t0kenvalue123456", "django-s3cret-key-value-0123456789",
]


def raw_config(stack: str) -> dict[str, str]:
    """`slipway:*` values of Pulumi.<stack>.yaml as strings (objects as JSON), plus secrets."""
    data = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    return {**raw, **SECRETS}


@dataclass
class FakeGit:
    """A git reader whose checkout is at `head` (None: not a checkout)."""

    head: str | None = SHA
    dirty: bool = False
    known: tuple[str, ...] = (SHA, OLD_SHA)

    def checkout(self, path: Path) -> Checkout | None:
        return None if self.head is None else Checkout(str(path), self.head, self.dirty)

    def expand(self, path: Path, prefix: str) -> str | None:
        matches = [s for s in self.known if s.startswith(prefix)]
        return matches[0] if len(matches) == 1 else None


def project_dir(tmp: Path) -> Path:
    """A project folder whose `../ProjectMeats/{backend,frontend}` contexts exist."""
    for service in ("backend", "frontend"):
        ctx = tmp / "ProjectMeats" / service
        ctx.mkdir(parents=True, exist_ok=True)
        (ctx / "Dockerfile").write_text("FROM scratch\n")
    infra = tmp / "infra"
    infra.mkdir(exist_ok=True)
    return infra
