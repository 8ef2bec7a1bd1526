"""Who runs a release, for the servers' audit logs: the CI actor, else user@host."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping


def current_actor(environ: Mapping[str, str]) -> str:
    """`github:<login>` in GitHub Actions, else `<user>@<host>` of the machine running `pulumi`."""
    if environ.get("GITHUB_ACTOR"):
        return f"github:{environ['GITHUB_ACTOR']}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
