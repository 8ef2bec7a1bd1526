"""The rollback command's decisions with a stand-in for the pulumi CLI and a real registry
(the sandbox's, and a loopback one with auth). The end-to-end run is in test_rollback_e2e.py."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from slipway.delivery import rollback
from slipway.delivery.pulumi_cli import PulumiCli
from slipway.delivery.rollback import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, parse_args, run
from slipway.delivery.switch_back import Outcome
from slipway.secret import Secret
from tests.delivery.registry_fakes import AuthRegistry, delete_tag, push_tiny_image


@dataclass(frozen=True)
class FakeCli(PulumiCli):
    values: dict[str, Any] = field(default_factory=dict)
    stack_outputs: dict[str, Any] = field(default_factory=dict)
    stack_history: list[dict[str, Any]] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    up_code: int = 0
    pins_in_file: bool = False  # whether the stack file's own edit works (else `config set`)
    pulumi_reads_file_pin: bool = True  # whether `pulumi config get` then sees that pin
    order: list[str] = field(default_factory=list)  # pins and the keys' read, as they happened
    keys_gate: threading.Event = field(default_factory=threading.Event)

    def config(self) -> dict[str, Any]:
        return dict(self.values)

    def config_from_file(self, keys: tuple[str, ...]) -> dict[str, Any] | None:
        return None  # every value from `config()` (the file's own reading has tests of its own)

    def outputs_from_file(self) -> dict[str, Any] | None:
        return None  # every output from `outputs()` (the state file's reading has tests of its own)

    def outputs(self) -> dict[str, Any]:
        return dict(self.stack_outputs)

    def history(self) -> list[dict[str, Any]]:
        return list(self.stack_history)

    def secret_values(self) -> dict[str, Secret]:
        self.keys_gate.wait(timeout=0.3)  # a decryption takes a while; a pin in the file ends it
        self.order.append("keys read")
        return {key: Secret(value) for key, value in self.secrets.items()}

    def secret(self, key: str) -> Secret | None:
        self.calls.append(("config get", key))
        return Secret(self.secrets[key]) if key in self.secrets else None

    def set_config(self, key: str, value: str) -> None:
        self.calls.append(("config set", key, value))
        self.order.append("config set")
        self.values[key] = value

    def plain_value(self, key: str) -> str | None:
        value = self.values.get(key)
        return str(value) if value is not None and self.pulumi_reads_file_pin else None

    def set_config_in_file(self, key: str, value: str) -> bool:
        if self.pins_in_file:
            self.calls.append(("pin in file", key, value))
            self.order.append("pin in file")
            self.values[key] = value
            self.keys_gate.set()
        return self.pins_in_file

    def remove_config(self, key: str) -> None:
        self.calls.append(("config rm", key))
        self.values.pop(key, None)

    def preview(self, extra: Sequence[str] = ()) -> int:
        self.calls.append(("preview", str(self.values.get("slipway:sha"))))
        return 0

    def up(self, message: str, extra: Sequence[str] = ()) -> int:
        self.calls.append(("up", str(self.values.get("slipway:sha")), message))
        return self.up_code


def make(registry: str, repo_prefix: str, **outputs: Any) -> FakeCli:
    return FakeCli(stack="prod", values={
        "slipway:environment": "prod",
        "slipway:registry": {"server": f"{registry}/{repo_prefix}"},
        "slipway:services": {"backend": {"repository": "backend"},
                             "frontend": {"repository": "frontend"}},
    }, stack_outputs=outputs)


@pytest.fixture
def release(sandbox: dict[str, str]) -> tuple[str, str, str, str]:
    """(registry host, repo prefix, old sha with both images, running sha)."""
    host, prefix = sandbox["SANDBOX_REGISTRY"], f"rb-{secrets.token_hex(3)}"
    old, running = secrets.token_hex(20), secrets.token_hex(20)
    for sha in (old, running):
        for service in ("backend", "frontend"):
            push_tiny_image(host, f"{prefix}/{service}", f"prod-{sha}")
    return host, prefix, old, running


def test_rolls_back_to_replaced_sha(release: tuple[str, str, str, str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    host, prefix, old, running = release
    cli = make(host, prefix, deployedSha=running, replacedSha=old, releaseMode="build")
    assert run(parse_args(["--stack", "prod", "--yes"]), cli) == EXIT_OK
    # Pinned for the up, then the config is put back as it was: a rollback lasts until the next
    # release (the same as on the workflow's throwaway runner).
    assert cli.calls == [("config set", "slipway:sha", old),
                         ("up", old, f"slipway rollback prod: slipway-sha={old}"),
                         ("config rm", "slipway:sha")]
    out = capsys.readouterr().out
    assert f"{running} -> {old}" in out and f"{host}/{prefix}/frontend:prod-{old} is in" in out


def test_short_sha_is_expanded_from_the_registry(release: tuple[str, str, str, str]) -> None:
    host, prefix, old, running = release
    cli = make(host, prefix, deployedSha=running, replacedSha=old)
    assert run(parse_args(["--stack", "prod", "--to", old[:12], "--yes"]), cli) == EXIT_OK
    assert ("config set", "slipway:sha", old) in cli.calls


def test_refuses_and_changes_nothing_when_a_tag_is_gone(
        release: tuple[str, str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    host, prefix, old, running = release
    delete_tag(host, f"{prefix}/frontend", f"prod-{old}")
    cli = make(host, prefix, deployedSha=running, replacedSha=old)
    assert run(parse_args(["--stack", "prod", "--yes"]), cli) == EXIT_REFUSED
    assert cli.calls == []
    err = capsys.readouterr().err
    assert f"{host}/{prefix}/frontend:prod-{old}" in err and "Nothing was changed." in err
    assert f"backend:prod-{old}" not in err


def test_preview_only_restores_the_previous_pin(release: tuple[str, str, str, str]) -> None:
    host, prefix, old, running = release
    cli = make(host, prefix, deployedSha=running, replacedSha=old)
    assert run(parse_args(["--stack", "prod", "--preview-only"]), cli) == EXIT_OK
    assert cli.calls == [("config set", "slipway:sha", old), ("preview", old),
                         ("config rm", "slipway:sha")]
    pinned = make(host, prefix, deployedSha=running, replacedSha=old)
    pinned.values["slipway:sha"] = running
    assert run(parse_args(["--stack", "prod", "--preview-only", "--to", old]), pinned) == EXIT_OK
    assert pinned.calls[-1] == ("config set", "slipway:sha", running)


def test_not_confirmed_means_nothing_changes(release: tuple[str, str, str, str]) -> None:
    host, prefix, old, running = release
    cli = make(host, prefix, deployedSha=running, replacedSha=old)
    assert run(parse_args(["--stack", "prod"]), cli, ask=lambda _: False) == EXIT_REFUSED
    assert cli.calls == []
    assert run(parse_args(["--stack", "prod"]), cli, ask=lambda _: True) == EXIT_OK


def test_failed_up_puts_the_config_back_and_says_how_to_continue(
        release: tuple[str, str, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    host, prefix, old, running = release
    cli = FakeCli(**{**make(host, prefix, deployedSha=running, replacedSha=old).__dict__,
                     "up_code": 255})
    assert run(parse_args(["--stack", "prod", "--yes"]), cli) == EXIT_FAILED
    assert "slipway:sha" not in cli.values
    assert "run the same rollback again to continue it" in capsys.readouterr().err


def test_registry_password_from_the_stack_config_and_never_printed(
        capsys: pytest.CaptureFixture[str]) -> None:
    password = "regpw-" + secrets.token_hex(16)
    old, running = secrets.token_hex(20), secrets.token_hex(20)
    fake = AuthRegistry("bearer", "ci@example.com", password,
                        {f"team/backend:prod-{old}", f"team/frontend:prod-{old}"})
    with fake.running():
        cli = make(fake.host, "team", deployedSha=running, replacedSha=old)
        cli.values["slipway:registry"] = {"server": f"{fake.host}/team", "username": "ci@example.com"}
        cli.secrets["slipway:registryPassword"] = password
        assert run(parse_args(["--stack", "prod", "--yes"]), cli) == EXIT_OK
        assert ("config get", "slipway:registryPassword") in cli.calls
        # A wrong password: refused before anything changes, and not printed either.
        wrong = make(fake.host, "team", deployedSha=running, replacedSha=old)
        wrong.values["slipway:registry"] = {"server": f"{fake.host}/team", "username": "ci@example.com"}
        wrong.secrets["slipway:registryPassword"] = "nope-" + password
        assert run(parse_args(["--stack", "prod", "--yes"]), wrong) == EXIT_FAILED
        assert not [c for c in wrong.calls if c[0] != "config get"]
    captured = capsys.readouterr()
    assert password not in captured.out + captured.err


def test_servers_switched_back_and_a_failed_up_keep_the_pin(
        release: tuple[str, str, str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The servers already run the old release and the stack failed to record it: the pin stays,
    or the next `up` (of HEAD, state unchanged) would leave them there unseen."""
    host, prefix, old, running = release
    cli = make(host, prefix, deployedSha=running, replacedSha=old)
    cli.values["slipway:server"] = {"host": "203.0.113.10", "user": "deploy", "hostKey": "ssh-ed25519 AAAA"}
    cli.secrets["slipway:sshPrivateKey"] = "key"
    switched = [Outcome("deploy@203.0.113.10:22", "backend", 0, "switched")]
    monkeypatch.setattr(rollback, "switch_back", lambda *_: switched)
    failing = FakeCli(stack=cli.stack, values=cli.values, stack_outputs=cli.stack_outputs,
                      secrets=cli.secrets, up_code=1)
    assert run(parse_args(["--stack", "prod", "--yes"]), failing) == EXIT_FAILED
    assert failing.values["slipway:sha"] == old
    assert ("config rm", "slipway:sha") not in failing.calls
    assert "stays pinned" in capsys.readouterr().err
    # Nothing switched back: the failed `up` leaves the config as it was.
    monkeypatch.setattr(rollback, "switch_back", lambda *_: [])
    again = FakeCli(stack=cli.stack, values={k: v for k, v in cli.values.items() if k != "slipway:sha"},
                    stack_outputs=cli.stack_outputs, secrets=cli.secrets, up_code=1)
    assert run(parse_args(["--stack", "prod", "--yes"]), again) == EXIT_FAILED
    assert "slipway:sha" not in again.values
    # A switch-back whose result nobody knows (its connection lost, no answer in time): the pin
    # stays too, whatever the deploy key did after it.
    for unknown in (Outcome("deploy@203.0.113.10:22", "backend", 255, "Connection reset"),
                    Outcome("deploy@203.0.113.10:22", "backend", -2, "no answer within 330 s"),
                    Outcome("deploy@203.0.113.10:22", "backend", -1, "no key", unsure=True)):
        monkeypatch.setattr(rollback, "switch_back", lambda *_, u=unknown: [u])
        lost = FakeCli(stack=cli.stack, values={k: v for k, v in cli.values.items() if k != "slipway:sha"},
                       stack_outputs=cli.stack_outputs, secrets=cli.secrets, up_code=1)
        assert run(parse_args(["--stack", "prod", "--yes"]), lost) == EXIT_FAILED
        assert lost.values["slipway:sha"] == old
        assert "whose result is unknown" in capsys.readouterr().err


def test_the_pin_is_the_stack_files_own_edit_when_it_can_be(
        release: tuple[str, str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In the file, atomically, before the deploy keys are read; else `pulumi config set`, which
    rewrites the file in place, only once the keys have been read from it. Pulumi not reading the
    file's pin (a file it finds elsewhere): its own `config set` before the `up`."""
    host, prefix, old, running = release
    monkeypatch.setattr(rollback, "switch_back", lambda *_: [])
    up = ("up", old, f"slipway rollback prod: slipway-sha={old}")
    for in_file, seen, calls, order in (
            (True, True, [("pin in file", "slipway:sha", old), up],
             ["pin in file", "keys read"]),
            (False, True, [("config set", "slipway:sha", old), up],
             ["keys read", "config set"]),
            (True, False, [("pin in file", "slipway:sha", old), ("config set", "slipway:sha", old), up],
             ["pin in file", "keys read", "config set"])):
        base = make(host, prefix, deployedSha=running, replacedSha=old)
        cli = FakeCli(stack=base.stack, values=base.values, stack_outputs=base.stack_outputs,
                      secrets={"slipway:sshPrivateKey": "key"}, pins_in_file=in_file,
                      pulumi_reads_file_pin=seen)
        cli.values["slipway:server"] = {"host": "203.0.113.10", "user": "deploy",
                                        "hostKey": "ssh-ed25519 AAAA"}
        assert run(parse_args(["--stack", "prod", "--yes"]), cli) == EXIT_OK
        assert cli.calls == [*calls, ("config rm", "slipway:sha")]
        assert cli.order == order


def test_interrupted_while_the_keys_are_read_the_file_pin_is_taken_back(
        release: tuple[str, str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    host, prefix, old, running = release
    base = make(host, prefix, deployedSha=running, replacedSha=old)
    cli = FakeCli(stack=base.stack, values=base.values, stack_outputs=base.stack_outputs,
                  secrets={"slipway:sshPrivateKey": "key"}, pins_in_file=True)
    cli.values["slipway:server"] = {"host": "203.0.113.10", "user": "deploy",
                                    "hostKey": "ssh-ed25519 AAAA"}

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(rollback, "deploy_keys", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(parse_args(["--stack", "prod", "--yes"]), cli)
    assert cli.calls == [("pin in file", "slipway:sha", old), ("config rm", "slipway:sha")]
    assert "slipway:sha" not in cli.values
