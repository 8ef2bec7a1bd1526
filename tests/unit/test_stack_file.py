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

from slipway.delivery.stack_file import set_plain_value, stack_file, with_value

SHA = "1234e56789" + "0" * 30  # digits and one `e`: a float to YAML unless quoted
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
    assert yaml.safe_load(edited)["config"][KEY] == SHA  # a string, not 1.23e+564


def test_an_existing_pin_is_replaced_in_place() -> None:
    pinned = STACK.replace("    slipway:registry:", "    slipway:sha: 0123abc  # held\n    slipway:registry:")
    edited = with_value(pinned, KEY, SHA)
    assert edited == pinned.replace("slipway:sha: 0123abc  # held", f'slipway:sha: "{SHA}"')


def test_a_file_without_config_gets_a_config_block() -> None:
    salted = with_value("encryptionsalt: v1:x\n", KEY, SHA)
    assert salted == f'encryptionsalt: v1:x\nconfig:\n  {KEY}: "{SHA}"\n'
    assert with_value("", KEY, SHA) == f'config:\n  {KEY}: "{SHA}"\n'
    assert with_value("config:\n", KEY, SHA) == f'config:\n  {KEY}: "{SHA}"\n'


@pytest.mark.parametrize("layout", [
    "config: {slipway:environment: prod}\n",                      # flow style
    'config:\n  "slipway:sha": abc\n',                            # quoted key
    "config:\n  slipway:sha: >-\n    abc\n",                      # a folded scalar
    "config:\n  slipway:sha:\n    secure: v1:AAAA\n",             # a secret of that name
    "config:\n  slipway:environment: prod\nother:\n  slipway:sha: abc\n",  # the name elsewhere
    "config: [1, 2]\n",                                           # not a mapping
    "config:\n  a: [\n",                                          # not YAML
])
def test_a_layout_it_is_not_sure_of_is_left_alone(layout: str) -> None:
    assert with_value(layout, KEY, SHA) is None


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
    if os.geteuid() != 0:  # root writes anywhere
        path.write_text(STACK)
        tmp_path.chmod(0o500)
        try:
            assert not set_plain_value(path, KEY, SHA)
        finally:
            tmp_path.chmod(0o700)
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
    (tmp_path / "Pulumi.yaml").write_text("name: app\nruntime: python\nstackConfigDir: stacks\n")
    assert stack_file("prod", None, tmp_path) is None
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.prod.yaml").write_text(STACK)
    assert stack_file("prod", None, tmp_path) == tmp_path / "stacks" / "Pulumi.prod.yaml"
