"""The rollback key's connection offers the quick key exchanges first, and only those ssh allows."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from slipway.delivery.remote import QUICK_KEX, Server, quick_kex_first, quick_kex_option

SERVER = Server("127.0.0.1", 2222, "deploy", "ssh-ed25519 AAAA")


def test_the_quick_exchanges_go_first_and_nothing_is_added_or_lost() -> None:
    allowed = ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "ecdh-sha2-nistp256",
               "curve25519-sha256@libssh.org"]
    assert quick_kex_first(allowed) == ["curve25519-sha256", "curve25519-sha256@libssh.org",
                                        "sntrup761x25519-sha512@openssh.com", "ecdh-sha2-nistp256"]
    assert quick_kex_first(["mlkem768x25519-sha256", "sntrup761x25519-sha512", "curve25519-sha256"]) \
        == ["mlkem768x25519-sha256", "curve25519-sha256", "sntrup761x25519-sha512"]
    # A configuration that allows none of them keeps its own order; none is added to it.
    assert quick_kex_first(["ecdh-sha2-nistp384", "diffie-hellman-group16-sha512"]) \
        == ["ecdh-sha2-nistp384", "diffie-hellman-group16-sha512"]


def test_the_option_reorders_what_this_ssh_would_offer() -> None:
    shown = subprocess.run(["ssh", "-G", "-p", "2222", "deploy@127.0.0.1"], capture_output=True,
                           text=True, check=True).stdout
    offered = next(line.split(" ", 1)[1].split(",") for line in shown.splitlines()
                   if line.startswith("kexalgorithms "))
    option = quick_kex_option(SERVER, Path(os.devnull), dict(os.environ))
    assert option[0] == "-o" and option[1].startswith("KexAlgorithms=")
    chosen = option[1].removeprefix("KexAlgorithms=").split(",")
    assert sorted(chosen) == sorted(offered)
    assert chosen[0] in QUICK_KEX


def test_an_ssh_that_cannot_say_keeps_its_own_order(tmp_path: Path) -> None:
    assert quick_kex_option(SERVER, Path(os.devnull), {"PATH": str(tmp_path)}) == []
