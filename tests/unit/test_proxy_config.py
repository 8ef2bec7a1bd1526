"""The proxy's nginx.conf, rendered without Pulumi; checked by a real nginx where there is one."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from slipway.commands.proxy import ProxySite, render_nginx_conf, upstream_line

SITE = ProxySite(environment="prod", service="backend", listen_host="127.0.0.1", port=8000,
                 client_max_body_size="100m", read_timeout_seconds=60)
SANDBOX_NGINX = "slipway/nginx:bookworm"


def test_it_listens_on_the_service_port_and_proxies_to_the_upstream_file() -> None:
    conf = render_nginx_conf(SITE)
    assert "listen 127.0.0.1:8000;" in conf
    assert "upstream prod_backend {\n        include /etc/slipway-proxy/upstream.conf;" in conf
    assert "proxy_pass http://prod_backend;" in conf
    # What the front proxy said about the client is kept; keepalive to the app.
    assert "proxy_set_header X-Forwarded-Proto $slipway_forwarded_proto;" in conf
    assert 'proxy_set_header Connection "";' in conf and "keepalive 16;" in conf
    assert "client_max_body_size 100m;" in conf and "proxy_read_timeout 60s;" in conf
    assert upstream_line(18000) == "server 127.0.0.1:18000 max_fails=0;\n"


def test_the_agent_writes_the_same_upstream_line() -> None:
    from slipway.commands.agent import render_agent

    assert """upstream() { printf 'server 127.0.0.1:%s max_fails=0;\\n' "$1"; }""" in render_agent()


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs docker")
def test_a_real_nginx_accepts_it(tmp_path: Path) -> None:
    if subprocess.run(["docker", "image", "inspect", SANDBOX_NGINX], capture_output=True).returncode != 0:
        pytest.skip(f"{SANDBOX_NGINX} is not built (make sandbox)")
    (tmp_path / "nginx.conf").write_text(render_nginx_conf(SITE))
    (tmp_path / "upstream.conf").write_text(upstream_line(18000))
    done = subprocess.run(["docker", "run", "--rm", "--network", "none", "--volume",
                           f"{tmp_path}:/etc/slipway-proxy:ro", SANDBOX_NGINX, "nginx", "-t", "-c",
                           "/etc/slipway-proxy/nginx.conf"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
