"""The rollback's pin written into the stack's config file itself (slipway.delivery.stack_file):
one line changes, everything else stays byte for byte, and any layout it is not sure of is left
to `pulumi config set`. The real CLI reading such a pin is in tests/delivery/test_rollback_cli.py.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from slipway.delivery.stack_file import set_plain_value, stack_file, values_as_pulumi_reads_them, with_value

SHA = "1" * 36 + "e100"  # a SHA that YAML 1.2 (Pulumi's yaml.v3) reads as a float unless quoted
KEY = "slipway:sha"

STACK = """\
# prod: every value but the SHA is reviewed here.
encryptionsalt: v1:abc:v1:def:ghi
config:
    slipway:environment: prod   # the stack's name in image tags
    slipway:registry:
        server: registry.example.com/team
    slipway:sshPrivateKey:
        secure: v1:AAAA:BBBB
"""


def test_a_new_pin_is_one_line_under_config_at_the_entries_indent() -> None:
    edited = with_value(STACK, KEY, SHA)
    assert edited == STACK.replace("config:\n", f'config:\n    slipway:sha: "{SHA}"\n')
    assert yaml.safe_load(edited)["config"][KEY] == SHA


def test_an_existing_pin_is_replaced_in_place() -> None:
    pinned = STACK.replace("    slipway:registry:", "    slipway:sha: 0123abc  # held\n    slipway:registry:")
    edited = with_value(pinned, KEY, SHA)
    assert edited == pinned.replace("slipway:sha: 0123abc  # held", f'slipway:sha: "{SHA}"')


@pytest.mark.parametrize("layout", [
    "config: {slipway:environment: prod}\n",                      # flow style
    'config:\n  "slipway:sha": abc\n',                            # quoted key
    "config:\n  slipway:sha: >-\n    abc\n",                      # a folded scalar
    "config:\n  slipway:sha:\n    secure: v1:AAAA\n",             # a secret of that name
    "config:\n  sha: abc\n",                                      # the project's own key, short
    "config:\n  slipway:environment: prod\nother:\n  slipway:sha: abc\n",  # the name elsewhere
    "config: [1, 2]\n",                                           # not a mapping
    "config:\n  a: [\n",                                          # not YAML
    "config:\n  a: 2001-13-01\n",                                 # a date PyYAML cannot make
    "environment:\n  - prod-env\nconfig:\n  a: b\n",                # ESC may set values too
])
def test_a_layout_it_is_not_sure_of_is_left_alone(layout: str) -> None:
    assert with_value("encryptionsalt: v1:x\n" + layout, KEY, SHA) is None


def test_a_file_whose_secrets_manager_pulumi_would_still_save_is_left_alone() -> None:
    """Without its salt (or KMS key) in the file, a `pulumi config` running meanwhile writes one
    into its own copy of the file, and saves that over the pin."""
    assert with_value(STACK.replace("encryptionsalt: v1:abc:v1:def:ghi\n", ""), KEY, SHA) is None
    kms = STACK.replace("encryptionsalt: v1:abc:v1:def:ghi\n",
                        "secretsprovider: awskms://alias/x\nencryptedkey: AAAA\n")
    assert with_value(kms, KEY, SHA) is not None


def test_crlf_lines_stay_crlf() -> None:
    crlf = STACK.replace("\n", "\r\n")
    assert with_value(crlf, KEY, SHA) == crlf.replace("config:\r\n", f'config:\r\n    {KEY}: "{SHA}"\r\n')


def test_the_file_is_replaced_whole_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(STACK)
    path.chmod(0o640)
    inode = path.stat().st_ino
    assert set_plain_value(path, KEY, SHA)
    assert yaml.safe_load(path.read_text())["config"][KEY] == SHA
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode  # a new file renamed over the old one: never half written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.prod.yaml"]


def test_nothing_is_written_when_it_cannot_be(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text("config: {a: 1}\n")
    assert not set_plain_value(path, KEY, SHA)
    assert path.read_text() == "config: {a: 1}\n"
    # A link (its target would stay unpinned), another user's file (it would become ours): left
    # to `pulumi config set`, which writes them as they are.
    target = tmp_path / "shared.yaml"
    target.write_text(STACK)
    link = tmp_path / "Pulumi.uat.yaml"
    link.symlink_to(target)
    assert not set_plain_value(link, KEY, SHA)
    assert link.is_symlink() and target.read_text() == STACK
    path.write_text(STACK)
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        assert not set_plain_value(path, KEY, SHA)
    else:
        path.chmod(0o444)
        assert not set_plain_value(path, KEY, SHA)
    assert path.read_text() == STACK


def test_the_stack_file_is_found_as_pulumi_finds_it(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: app\nruntime: python\n")
    assert stack_file("prod", None, tmp_path) is None  # not created yet: `pulumi config set` does
    (tmp_path / "Pulumi.prod.yaml").write_text(STACK)
    assert stack_file("prod", None, tmp_path) == tmp_path / "Pulumi.prod.yaml"
    assert stack_file("acme/app/prod", None, tmp_path) is None
    elsewhere = tmp_path / "ci" / "Pulumi.prod.yaml"
    assert stack_file("prod", elsewhere, tmp_path) is None
    elsewhere.parent.mkdir()
    elsewhere.write_text(STACK)
    assert stack_file("prod", elsewhere, tmp_path) == elsewhere
    # A relative --config-file is opened from --cwd, as pulumi changes into it first.
    assert stack_file("prod", Path("ci/Pulumi.prod.yaml"), tmp_path) == elsewhere
    (tmp_path / "Pulumi.yaml").write_text("name: app\nruntime: python\nstackConfigDir: stacks\n")
    assert stack_file("prod", None, tmp_path) is None
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(STACK)
    assert stack_file("prod", None, tmp_path) == tmp_path / "stacks" / "Pulumi.prod.yaml"
    # Whatever Pulumi resolves otherwise than this does is left to `pulumi config set`.
    for project in ("name: app\nstackConfigDir: /etc/stacks\n", "name: app\nconfig: stacks\n",
                    "name:\tapp\n"):
        (tmp_path / "Pulumi.yaml").write_text(project)
        assert stack_file("prod", None, tmp_path) is None, project
    (tmp_path / "Pulumi.yaml").write_text("name: app\n")
    for other in ("Pulumi.yml", "Pulumi.json"):
        (tmp_path / other).write_text("name: app\n")
        assert stack_file("prod", None, tmp_path) is None, other
        (tmp_path / other).unlink()
    assert stack_file("prod", None, tmp_path) == tmp_path / "Pulumi.prod.yaml"


KEYS = ("slipway:environment", "slipway:registry", "slipway:server", "slipway:sshPrivateKey", "slipway:sha")


def project_with(tmp_path: Path, stack_text: str, project_text: str = "name: slipway\n") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(project_text)
    (tmp_path / "Pulumi.prod.yaml").write_text(stack_text)
    return tmp_path


def test_the_rollbacks_values_are_read_as_pulumi_config_json_gives_them(tmp_path: Path) -> None:
    text = STACK + ("    slipway:server:\n        host: 203.0.113.10\n        port: 2222\n"
                    "    slipway:sha: '0123'\n")
    project = project_with(tmp_path, text)
    assert values_as_pulumi_reads_them("prod", None, project, KEYS) == {
        "slipway:environment": "prod", "slipway:registry": {"server": "registry.example.com/team"},
        "slipway:server": {"host": "203.0.113.10", "port": 2222}, "slipway:sha": "0123"}
    # A number at the top is a string to `pulumi config --json`; a secret is left out.
    (project / "Pulumi.prod.yaml").write_text(STACK.replace("prod   #", "2024   #"))
    assert values_as_pulumi_reads_them("prod", None, project, KEYS) == {
        "slipway:environment": "2024", "slipway:registry": {"server": "registry.example.com/team"}}


@pytest.mark.parametrize(("stack_text", "project_text"), [
    (STACK.replace("prod   #", "on   #"), "name: slipway\n"),             # YAML 1.1 true, 1.2 "on"
    (STACK + "    slipway:server:\n        host: no\n", "name: slipway\n"),  # the same, nested
    (STACK + "    slipway:sha: 1.5e3\n", "name: slipway\n"),               # a string to 1.1, a float to 1.2
    (STACK + "    slipway:sha: 0777\n", "name: slipway\n"),                # octal to 1.1, decimal to 1.2
    (STACK + "    slipway:sha: 1:20\n", "name: slipway\n"),                # 80 to 1.1 (base 60)
    (STACK + "    slipway:sha: 2024-01-01\n", "name: slipway\n"),          # a date to PyYAML
    (STACK + "    environment: prod\n", "name: slipway\n"),                # no namespace
    ("environment:\n  - prod-env\n" + STACK, "name: slipway\n"),          # ESC sets values too
    (STACK, "name: slipway\nconfig:\n  slipway:environment: dev\n"),     # project-level value
    (STACK + "    slipway:environment: uat\n", "name: slipway\n"),          # a key twice (Pulumi refuses)
    (STACK + "    slipway:server:\n        host: a\n        host: b\n", "name: slipway\n"),
    (STACK.replace("config:", "config:\n    slipway:config:sha: abc", 1), "name: slipway\n"),  # old spelling
    (STACK + "    slipway:server: &s {host: a}\n    slipway:servers: [*s]\n", "name: slipway\n"),  # alias
    (STACK + "    slipway:server:\n        <<: {host: a}\n", "name: slipway\n"),  # a merge key
    (STACK + "    slipway:server: !!omap [{host: a}]\n", "name: slipway\n"),  # a tagged collection
    (STACK + "    slipway:server: {1: a}\n", "name: slipway\n"),               # a key that is no string
    (STACK + "    slipway:server: {port: 1234567890123456789012}\n", "name: slipway\n"),  # beyond int64
    (STACK + "    slipway:server: &a [*a]\n", "name: slipway\n"),              # an alias of itself
])
def test_anything_pulumi_might_read_otherwise_is_left_to_pulumi(
        tmp_path: Path, stack_text: str, project_text: str) -> None:
    assert values_as_pulumi_reads_them("prod", None, project_with(tmp_path, stack_text, project_text),
                                       KEYS) is None


def test_a_stack_without_a_plain_file_is_left_to_pulumi(tmp_path: Path) -> None:
    assert values_as_pulumi_reads_them("prod", None, tmp_path, KEYS) is None
    project = project_with(tmp_path, STACK)
    (project / "Pulumi.json").write_text("{}")
    assert values_as_pulumi_reads_them("prod", None, project, KEYS) is None
