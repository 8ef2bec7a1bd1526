"""Toolchain smoke program: one resource from each of the four providers.

`pulumi preview` of this program must load every provider plugin from the
toolchain bin dir and must need no network: the github and postgresql
providers point at a loopback port that nothing listens on (the test passes
it in SMOKE_UNUSED_PORT) and nothing here is ever created.
"""

import os

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_github as github
import pulumi_postgresql as postgresql

port = int(os.environ.get("SMOKE_UNUSED_PORT", "9"))

hello = command.local.Command("hello", create="echo hello")

tag = docker.Tag(
    "tag",
    source_image="busybox:latest",
    target_image="127.0.0.1:5999/slipway-smoke:latest",
)

gh = github.Provider(
    "gh",
    base_url=f"http://127.0.0.1:{port}/",
    token="fake-token-for-offline-preview",
    owner="slipway-smoke",
)
repo = github.Repository(
    "repo",
    name="slipway-smoke",
    visibility="private",
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
pulumi.export("repo", repo.name)
pulumi.export("role", role.name)
