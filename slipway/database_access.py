"""Opening the pipeline's way to the database, as the stack config says (`database.access`)."""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping

from slipway.config import StackConfig
from slipway.delivery.remote import Server
from slipway.tunnel import TUNNEL_OPEN_ENV, Tunnel, open_tunnel


def server_of(cfg: StackConfig) -> Server:
    s = cfg.server
    return Server(host=s.host, port=s.port, user=s.user, host_key=s.host_key)


def open_database_access(cfg: StackConfig, environ: Mapping[str, str] = os.environ) -> Tunnel | None:
    """With `access: ssh`, the forward through the server, closed when the program exits (and
    killed with it); None when the pipeline connects directly or `slipway tunnel` holds it."""
    db = cfg.database
    if db.access != "ssh" or environ.get(TUNNEL_OPEN_ENV) == str(db.local_tunnel_port):
        return None
    tunnel = open_tunnel(server_of(cfg), cfg.server.private_key, db.admin_host, db.admin_port,
                         db.local_tunnel_port)
    atexit.register(tunnel.close)
    return tunnel
