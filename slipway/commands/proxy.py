"""The reverse proxy in front of each service: nginx, its config rendered here.

Why nginx: the real users already run it (the droplet's own nginx), it is the most widely kept of
the three, its official image is small, and its graceful reload (SIGHUP: new workers take the new
config, old workers finish their in-flight requests, the listening socket never closes) is exactly
the switch a blue/green release needs. HAProxy reloads as gracefully but is one more thing to
learn; Caddy's admin API is neat but would be a second config language next to the droplet's.

One proxy container per service and server (`<env>-<service>-proxy`, host network) listens on the
service's configured port, where the droplet's nginx or a load balancer already points. Its
upstream is one line in its own file, which the agent rewrites to switch between the two internal
ports, then reloads.
"""

from __future__ import annotations

from dataclasses import dataclass

# Inside the proxy container (mounted read-only from the service's proxy folder on the server).
CONFIG_DIR = "/etc/slipway-proxy"
UPSTREAM_FILE = "upstream.conf"


@dataclass(frozen=True)
class ProxySite:
    """One service's proxy on one server."""

    environment: str
    service: str
    listen_host: str  # where it listens: 127.0.0.1 behind the droplet's own nginx
    port: int  # the service's configured port
    client_max_body_size: str  # nginx size, e.g. 100m
    read_timeout_seconds: int

    @property
    def container(self) -> str:
        return f"{self.environment}-{self.service}-proxy"


def upstream_line(port: int) -> str:
    """The upstream file's content: the one internal port that serves now."""
    return f"server 127.0.0.1:{port} max_fails=0;\n"


def render_nginx_conf(site: ProxySite) -> str:
    """The proxy's whole nginx.conf. Temp paths are under /tmp so any nginx image runs it."""
    upstream = f"{site.environment}_{site.service}".replace("-", "_")
    return f"""# rendered by slipway for {site.environment}/{site.service}; the agent rewrites {UPSTREAM_FILE}
worker_processes 1;
pid /tmp/slipway-proxy.pid;
error_log /dev/stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path /tmp/slipway-proxy-body;
    proxy_temp_path /tmp/slipway-proxy-temp;
    fastcgi_temp_path /tmp/slipway-proxy-fastcgi;
    uwsgi_temp_path /tmp/slipway-proxy-uwsgi;
    scgi_temp_path /tmp/slipway-proxy-scgi;
    client_max_body_size {site.client_max_body_size};
    # Keep what the front proxy (the droplet's nginx, a load balancer) said about the client.
    map $http_x_forwarded_proto $slipway_forwarded_proto {{
        default $http_x_forwarded_proto;
        "" $scheme;
    }}
    # Which internal port answered, told only to a request that asks: the agent's check that a
    # reload (asynchronous) has taken effect before it stops the old release.
    map $http_x_slipway_probe $slipway_upstream {{
        default "";
        "1" $upstream_addr;
    }}
    upstream {upstream} {{
        include {CONFIG_DIR}/{UPSTREAM_FILE};
        keepalive 16;
    }}
    server {{
        listen {site.listen_host}:{site.port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $slipway_forwarded_proto;
            proxy_read_timeout {site.read_timeout_seconds}s;
            proxy_buffering off;
            add_header X-Slipway-Upstream $slipway_upstream always;
        }}
    }}
}}
"""
