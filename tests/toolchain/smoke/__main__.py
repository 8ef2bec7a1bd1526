"""Toolchain smoke program: one resource from each of the four providers.

`pulumi preview` of this program must load every provider plugin from the
toolchain bin dir and must need no network: the github and postgresql
providers point at loopback: postgresql at a port nothing listens on
(SMOKE_UNUSED_PORT), github at the test's stub API (SMOKE_GITHUB_PORT), which
answers 404 to the one call the provider makes at configure time (it looks the
owner up as an organisation). Nothing here is ever created.
"""

import os

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_github as github
import pulumi_postgresql as postgresql

port = int(os.environ.get("SMOKE_UNUSED_PORT", "9"))
github_port = int(os.environ.get("SMOKE_GITHUB_PORT", "9"))

hello = command.local.Command("hello", create="echo hello")

tag = docker.Tag(
    "tag",
    source_image="busybox:latest",
    target_image="127.0.0.1:5999/slipway-smoke:latest",
)

gh = github.Provider(
    "gh",
    base_url=f"http://127.0.0.1:{github_port}/",
    token="fake-token-for-offline-preview",
    owner="slipway-smoke",
)
repo_secret = github.ActionsEnvironmentSecret(
    "secret",
    repository="slipway-smoke",
    environment="sandbox",
    secret_name="SLIPWAY_SMOKE",
    plaintext_value="not-a-secret",
    opts=pulumi.ResourceOptions(provider=gh),
)

pg = postgresql.Provider(
    "pg",
    host="127.0.0.1",
    port=port,
    username="slipway",
    password="not-a-real-password",
    sslmode="disable",
    superuser=False,
    connect_timeout=1,
)
role = postgresql.Role(
    "role",
    name="slipway_smoke",
    login=True,
    opts=pulumi.ResourceOptions(provider=pg),
)

pulumi.export("command_stdout", hello.stdout)
pulumi.export("tag", tag.target_image)
pulumi.export("secret", repo_secret.secret_name)
pulumi.export("role", role.name)
