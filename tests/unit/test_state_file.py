"""A stack's outputs read from a file backend's state file, and every case left to the CLI.

That the reading equals `pulumi stack output --json` on a deployed stack is shown with the real
CLI in tests/delivery/test_rollback_cli.py; here, which files are read and which are not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slipway.delivery.state_file import (
    SECRET_SIG,
    SIG_KEY,
    backend_root,
    outputs_as_pulumi_reads_them,
)

STACK, PROJECT = "prod", "slipway"
SECRET = {SIG_KEY: SECRET_SIG, "ciphertext": "v1:abc"}


def deployment(outputs: dict[str, Any], *, stack: str = f"organization/{PROJECT}/{STACK}",
               version: int = 3, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    resources = [{"urn": f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}",
                  "type": "pulumi:pulumi:Stack", "outputs": outputs}, *(extra or [])]
    return {"version": version, "checkpoint": {"stack": stack, "latest": {"resources": resources}}}


class Backend:
    """A file backend and a project directory, laid out as Pulumi 3 lays them out."""

    def __init__(self, tmp: Path) -> None:
        self.root, self.project = tmp / "state", tmp / "project"
        self.project.mkdir()
        (self.project / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
        (self.root / ".pulumi" / "stacks" / PROJECT).mkdir(parents=True)
        (self.root / ".pulumi" / "meta.yaml").write_text("version: 1\n")
        self.environ = {"PULUMI_BACKEND_URL": f"file://{self.root}?metadata=skip"}
        self.write(deployment({"deployedSha": "a" * 40, "replacedSha": "", "databaseUrl": SECRET,
                               "images": {"backend": "r/b:x"}, "names": ["DATABASE_URL"]}))

    @property
    def file(self) -> Path:
        return self.root / ".pulumi" / "stacks" / PROJECT / f"{STACK}.json"

    def write(self, data: dict[str, Any]) -> None:
        self.file.write_text(json.dumps(data))

    def read(self) -> dict[str, Any] | None:
        return outputs_as_pulumi_reads_them(STACK, self.project, self.environ)


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return Backend(tmp_path)


def test_the_outputs_come_as_the_cli_prints_them_secrets_as_secret(backend: Backend) -> None:
    assert backend.read() == {"deployedSha": "a" * 40, "replacedSha": "", "databaseUrl": "[secret]",
                              "images": {"backend": "r/b:x"}, "names": ["DATABASE_URL"]}


def test_a_secret_inside_a_structured_output_is_shown_as_secret(backend: Backend) -> None:
    backend.write(deployment({"settings": {"url": SECRET, "plain": 1}}))
    assert backend.read() == {"settings": {"url": "[secret]", "plain": 1}}


def test_the_backend_directory_comes_from_a_file_url_alone() -> None:
    assert backend_root({"PULUMI_BACKEND_URL": "file:///srv/state"}) == Path("/srv/state")
    spaced = {"PULUMI_BACKEND_URL": "file:///srv/my%20state?metadata=skip"}
    assert backend_root(spaced) == Path("/srv/my state")
    for url in ("file://~/state", "file://~", "s3://bucket/state", "https://api.pulumi.com", "file://relative/state",
                "file:///srv/state?prefix=elsewhere", "gs://bucket", ""):
        assert backend_root({"PULUMI_BACKEND_URL": url}) is None, url
    assert backend_root({}) is None


def _compressed(suffix: str) -> Callable[[Backend], object]:
    return lambda b: b.file.with_name(f"{STACK}.json{suffix}").write_bytes(b"\x1f\x8b")


DOUBTS: dict[str, Callable[[Backend], object]] = {
    "a backend other than a file": lambda b: b.environ.update(PULUMI_BACKEND_URL="s3://bucket"),
    "no PULUMI_BACKEND_URL (pulumi login's choice)": lambda b: b.environ.clear(),
    "a project that names its backend": lambda b: (b.project / "Pulumi.yaml").write_text(
        f"name: {PROJECT}\nruntime: python\nbackend:\n  url: file:///elsewhere\n"),
    "another project file beside Pulumi.yaml": lambda b: (b.project / "Pulumi.yml").write_text("name: x\n"),
    "no project file in the directory": lambda b: (b.project / "Pulumi.yaml").unlink(),
    "the legacy layout (no meta.yaml)": lambda b: (b.root / ".pulumi" / "meta.yaml").unlink(),
    "a layout version other than 1": lambda b: (b.root / ".pulumi" / "meta.yaml").write_text("version: 2\n"),
    "a gzip state beside the plain one": _compressed(".gz"),
    "a zstd state beside the plain one": _compressed(".zst"),
    "no state file (never created, or compressed)": lambda b: b.file.unlink(),
    "a state that is not JSON": lambda b: b.file.write_text("{"),
    "a deployment version other than 3": lambda b: b.write(deployment({}, version=4)),
    "a state of another stack": lambda b: b.write(deployment({}, stack="organization/other/prod")),
    "no latest deployment": lambda b: b.write({"version": 3, "checkpoint": {
        "stack": f"organization/{PROJECT}/{STACK}"}}),
    "two stack resources": lambda b: b.write(deployment({}, extra=[{"type": "pulumi:pulumi:Stack"}])),
    "an asset among the outputs": lambda b: b.write(deployment({"file": {
        SIG_KEY: "c44067f5952c0a294b673a41bacd8c17", "path": "x"}})),
}


@pytest.mark.parametrize("doubt", DOUBTS, ids=list(DOUBTS))
def test_anything_doubtful_is_left_to_pulumi_stack_output(backend: Backend, doubt: str) -> None:
    DOUBTS[doubt](backend)
    assert backend.read() is None


def test_a_qualified_stack_name_is_left_to_the_cli(backend: Backend) -> None:
    assert outputs_as_pulumi_reads_them(f"organization/{PROJECT}/{STACK}", backend.project,
                                        backend.environ) is None
