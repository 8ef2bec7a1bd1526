"""`slipway rollback` end to end with the real `pulumi` CLI and the sandbox's real registry, on a
stand-in program that needs no provider plugin: it exports slipway's stack outputs
(`deployedSha`, `replacedSha`, `releaseMode`, `environment`) from the same config keys. The
full program (images, migration, deploy) is covered by test_delivery_e2e.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.delivery.stack_file import set_plain_value
from tests.delivery.processes import ProcessWatch
from tests.delivery.registry_fakes import AuthRegistry, delete_tag, push_tiny_image

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

PROGRAM = '''\
import os
import pulumi

cfg = pulumi.Config("slipway")
head = os.environ["TOY_HEAD_SHA"]
pin = cfg.get("sha")
sha = pin or head
pulumi.export("environment", cfg.require("environment"))
pulumi.export("deployedSha", sha)
pulumi.export("releaseMode", "build" if sha == head else "reuse")
pulumi.export("replacedSha", os.environ.get("TOY_REPLACED_SHA", ""))
pulumi.export("databaseUrl", pulumi.Output.secret("postgres://app:toy-" + head[:8] + "@db/app"))
pulumi.export("images", {"tags": [sha[:7], None, 3], "pulled": True, "key": pulumi.Output.secret(head[:6])})
'''


def toolchain_env() -> dict[str, str]:
    out = subprocess.run(["bash", "-c", f"source {REPO}/scripts/env.sh && env -0"],
                         capture_output=True, check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


@dataclass
class Toy:
    root: Path
    registry: str  # host[:port]
    prefix: str
    env: dict[str, str]

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def config_file(self) -> Path:
        return self.root / "elsewhere" / "Pulumi.toy.yaml"

    def pulumi(self, *args: str, input: str | None = None, stack_flags: bool = True,
               config_file: bool = False, extra_env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
        argv = ["pulumi", *args, "--non-interactive", "--cwd", str(self.project)]
        if stack_flags:
            argv += ["--stack", "toy"]
        if config_file:
            argv += ["--config-file", str(self.config_file)]
        return subprocess.run(argv, capture_output=True, text=True, check=False, input=input,
                              env={**self.env, **(extra_env or {})})

    def up(self, head: str, replaced: str = "") -> None:
        done = self.pulumi("up", "--yes", "--skip-preview", "--message",
                           f"slipway deploy toy: slipway-sha={head}", config_file=True,
                           extra_env={"TOY_HEAD_SHA": head, "TOY_REPLACED_SHA": replaced})
        assert done.returncode == 0, done.stdout + done.stderr

    def outputs(self) -> dict[str, Any]:
        return dict(json.loads(self.pulumi("stack", "output", "--json").stdout))

    def history(self) -> list[dict[str, Any]]:
        return list(json.loads(self.pulumi("stack", "history", "--json").stdout))

    def rollback(self, *args: str, head: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipway.delivery.rollback", "--stack", "toy",
             "--cwd", str(self.project), "--config-file", str(self.config_file), *args],
            capture_output=True, text=True, check=False, cwd=REPO, timeout=600,
            env={**self.env, "TOY_HEAD_SHA": head, "TOY_REPLACED_SHA": ""})


def make_toy(root: Path, registry: str, prefix: str) -> Toy:
    env = toolchain_env()
    if not Path(env.get("SLIPWAY_TOOLCHAIN_BIN", "/nonexistent"), "pulumi").exists():
        pytest.skip("the pulumi CLI is not built (make toolchain)")
    (root / "state").mkdir(parents=True)
    env.update(PULUMI_BACKEND_URL=f"file://{root / 'state'}",
               PULUMI_CONFIG_PASSPHRASE="toy-" + secrets.token_hex(8))
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    toy = Toy(root, registry, prefix, env)
    toy.project.mkdir()
    (toy.project / "Pulumi.yaml").write_text("name: slipway-toy\nruntime:\n  name: python\n")
    (toy.project / "__main__.py").write_text(PROGRAM)
    toy.config_file.parent.mkdir()
    toy.config_file.write_text(yaml.safe_dump({"config": {
        "slipway:environment": "toy",
        "slipway:registry": {"server": f"{registry}/{prefix}"},
        "slipway:services": {"backend": {"repository": "backend"},
                             "frontend": {"repository": "frontend"}},
    }}))
    done = toy.pulumi("stack", "init", "toy", stack_flags=False)
    assert done.returncode == 0, done.stderr
    return toy


@pytest.fixture
def toy(tmp_path: Path, sandbox: dict[str, str]) -> Iterator[Toy]:
    yield make_toy(tmp_path, sandbox["SANDBOX_REGISTRY"], f"toy-{secrets.token_hex(3)}")


def push(toy: Toy, sha: str) -> None:
    for service in ("backend", "frontend"):
        push_tiny_image(toy.registry, f"{toy.prefix}/{service}", f"toy-{sha}")


def test_rollback_with_the_real_cli(toy: Toy) -> None:
    first, second = secrets.token_hex(20), secrets.token_hex(20)
    push(toy, first)
    push(toy, second)
    toy.up(first)
    toy.up(second, replaced=first)
    config_before = toy.config_file.read_text()
    project_file = toy.project / "Pulumi.toy.yaml"  # `stack init` left the salt there
    project_before = project_file.read_text()

    # Preview only: the pin is shown, then taken back; the stack is untouched.
    done = toy.rollback("--preview-only", head=second)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{second} -> {first}  (the stack's replacedSha output)" in done.stdout
    assert toy.config_file.read_text() == config_before
    assert toy.outputs()["deployedSha"] == second

    # The rollback lasts until the next release: the config is as it was afterwards, as on the
    # workflow's throwaway runner.
    done = toy.rollback("--yes", head=second)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = toy.outputs()
    assert (outputs["deployedSha"], outputs["releaseMode"]) == (first, "reuse")
    assert toy.config_file.read_text() == config_before
    assert "until the next release" in done.stdout
    assert project_file.read_text() == project_before  # --config-file was passed through
    assert toy.history()[0]["message"] == f"slipway rollback toy: slipway-sha={first}"

    # Already on a pinned release: no implicit second rollback.
    done = toy.rollback("--yes", head=second)
    assert done.returncode == 3 and "already runs a pinned release" in done.stderr

    # --hold keeps the pin in the config file, to be committed.
    toy.up(second, replaced=first)
    done = toy.rollback("--yes", "--hold", "--to", first, head=second)
    assert done.returncode == 0, done.stdout + done.stderr
    assert yaml.safe_load(toy.config_file.read_text())["config"]["slipway:sha"] == first
    assert "stays pinned" in done.stdout


def test_refused_when_the_tag_is_gone(toy: Toy) -> None:
    first, second = secrets.token_hex(20), secrets.token_hex(20)
    push(toy, first)
    push(toy, second)
    toy.up(first)
    toy.up(second, replaced=first)
    delete_tag(toy.registry, f"{toy.prefix}/backend", f"toy-{first}")
    config_before, history_before = toy.config_file.read_text(), toy.history()

    done = toy.rollback("--yes", head=second)
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"{toy.registry}/{toy.prefix}/backend:toy-{first}" in done.stderr
    assert "frontend" not in done.stderr
    assert "Nothing was changed." in done.stderr
    assert toy.config_file.read_text() == config_before
    assert toy.history() == history_before
    assert toy.outputs()["deployedSha"] == second


def test_previous_release_from_history_and_short_sha(toy: Toy) -> None:
    """replacedSha empty (e.g. set by hand): the update history knows the previous release."""
    first, second = secrets.token_hex(20), secrets.token_hex(20)
    push(toy, first)
    push(toy, second)
    toy.up(first)
    toy.up(second)  # replacedSha ""
    done = toy.rollback("--preview-only", head=second)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{second} -> {first}  (the stack's update history)" in done.stdout
    done = toy.rollback("--preview-only", "--to", first[:12], head=second)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"-> {first}  (--to)" in done.stdout


def test_registry_password_comes_from_the_stack_and_is_never_shown(tmp_path: Path) -> None:
    password = "regpw-" + secrets.token_hex(16)
    first, second = secrets.token_hex(20), secrets.token_hex(20)
    fake = AuthRegistry("bearer", "ci@example.com", password,
                        {f"team/backend:toy-{first}", f"team/frontend:toy-{first}"})
    with fake.running():
        toy = make_toy(tmp_path, fake.host, "team")
        config = yaml.safe_load(toy.config_file.read_text())
        config["config"]["slipway:registry"]["username"] = "ci@example.com"
        toy.config_file.write_text(yaml.safe_dump(config))
        done = toy.pulumi("config", "set", "--secret", "slipway:registryPassword",
                          input=password, config_file=True)
        assert done.returncode == 0, done.stderr
        toy.up(first)
        toy.up(second, replaced=first)
        with ProcessWatch() as watch:
            done = toy.rollback("--yes", head=second)
        assert done.returncode == 0, done.stdout + done.stderr
        assert any(a.startswith("Basic ") for a in fake.seen_auth)  # the token service got it
    assert toy.outputs()["deployedSha"] == first
    assert password not in done.stdout + done.stderr
    assert not [line for line in watch.lines if password in line]
    assert password not in toy.config_file.read_text()
    assert os.environ.get("PULUMI_CONFIG_PASSPHRASE") != toy.env["PULUMI_CONFIG_PASSPHRASE"]


@pytest.mark.parametrize("shipped", ["dev", "uat", "prod"])
def test_the_pins_file_edit_is_read_by_pulumi(toy: Toy, shipped: str) -> None:
    """The rollback pins `slipway:sha` by editing the stack file itself (no CLI start): on each
    shipped stack file, once it holds its secrets' salt as a deployed stack's does, `pulumi
    config` reads the pin and every other value as before, and `pulumi config rm` (the
    rollback's restore) takes it out again."""
    sha = "1" * 36 + "e100"  # YAML 1.2 (Pulumi's yaml.v3) would read it as a number unquoted
    toy.config_file.write_text((REPO / f"Pulumi.{shipped}.yaml").read_text())
    done = toy.pulumi("config", "set", "--secret", "slipway:registryPassword", "x", config_file=True)
    assert done.returncode == 0, done.stderr
    assert "encryptionsalt" in yaml.safe_load(toy.config_file.read_text())
    before = json.loads(toy.pulumi("config", "--json", config_file=True).stdout)
    assert set_plain_value(toy.config_file, "slipway:sha", sha)
    done = toy.pulumi("config", "get", "slipway:sha", config_file=True)
    assert (done.returncode, done.stdout.strip()) == (0, sha), done.stderr
    after = json.loads(toy.pulumi("config", "--json", config_file=True).stdout)
    assert {k: v for k, v in after.items() if k != "slipway:sha"} == before
    assert after["slipway:sha"]["value"] == sha
    done = toy.pulumi("config", "rm", "slipway:sha", config_file=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(toy.pulumi("config", "--json", config_file=True).stdout) == before


@pytest.mark.parametrize("shipped", ["local", "dev", "uat", "prod"])
def test_the_rollbacks_own_reading_of_the_config_file_is_pulumis(toy: Toy, shipped: str) -> None:
    """The rollback reads the values it needs from the stack's file itself (no CLI start): on
    every shipped stack file, with a secret in it and a pin, they are exactly what `pulumi config
    --json` gives; a value YAML 1.1 and 1.2 read differently makes it ask Pulumi instead."""
    from slipway.delivery.pulumi_cli import PulumiCli
    from slipway.delivery.rollback import ROLLBACK_CONFIG_KEYS

    toy.config_file.write_text((REPO / f"Pulumi.{shipped}.yaml").read_text())
    done = toy.pulumi("config", "set", "--secret", "slipway:sshPrivateKey", "x", config_file=True)
    assert done.returncode == 0, done.stderr
    assert set_plain_value(toy.config_file, "slipway:sha", "1" * 36 + "e100")
    cli = PulumiCli(stack="toy", config_file=toy.config_file, cwd=toy.project, env=toy.env)
    from_file = cli.config_from_file(ROLLBACK_CONFIG_KEYS)
    assert from_file is not None
    from_pulumi = cli.config()
    assert from_file == {k: v for k, v in from_pulumi.items() if k in ROLLBACK_CONFIG_KEYS}
    toy.config_file.write_text(re.sub(r"(?m)^(\s*slipway:environment:).*$", r"\1 on",
                                      toy.config_file.read_text(), count=1))
    assert yaml.safe_load(toy.config_file.read_text())["config"]["slipway:environment"] is True
    assert cli.config_from_file(ROLLBACK_CONFIG_KEYS) is None  # PyYAML: true; Pulumi: "on"


def test_the_rollbacks_own_reading_of_the_state_file_is_pulumis(toy: Toy) -> None:
    """The rollback reads the stack's outputs from a file backend's state file (no CLI start):
    after an `up`, they are exactly what `pulumi stack output --json` gives, secrets shown as
    [secret] and nowhere in plaintext; a state Pulumi wrote compressed is left to the CLI."""
    from slipway.delivery.pulumi_cli import PulumiCli

    head = "c0ffee" + "1" * 34
    toy.up(head)
    cli = PulumiCli(stack="toy", config_file=toy.config_file, cwd=toy.project, env=toy.env)
    from_file = cli.outputs_from_file()
    assert from_file is not None
    assert from_file == cli.outputs() == toy.outputs()
    assert from_file["databaseUrl"] == "[secret]" and from_file["images"]["key"] == "[secret]"
    assert f"toy-{head[:8]}" not in json.dumps(from_file)
    done = toy.pulumi("up", "--yes", "--skip-preview", config_file=True,
                      extra_env={"TOY_HEAD_SHA": head, "PULUMI_SELF_MANAGED_STATE_GZIP": "true"})
    assert done.returncode == 0, done.stderr
    assert list((toy.root / "state" / ".pulumi" / "stacks").rglob("toy.json.gz"))
    assert cli.outputs_from_file() is None
    assert cli.outputs()["deployedSha"] == head
