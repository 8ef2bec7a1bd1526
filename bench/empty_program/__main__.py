"""The same four providers as slipway's program, configured alike, and no other resource."""

import pulumi
import pulumi_command as command
import pulumi_docker as docker
import pulumi_github as github
import pulumi_postgresql as postgresql

config = pulumi.Config("empty")
docker.Provider("docker", registry_auth=[docker.ProviderRegistryAuthArgs(
    address=config.require("registry"), auth_disabled=True)])
postgresql.Provider("postgresql", host=config.require("pgHost"), port=config.require_int("pgPort"),
                    username=config.require("pgUser"), password=config.require_secret("pgPassword"),
                    database="postgres", sslmode="disable", superuser=False)
github.Provider("github", owner=config.require("githubOwner"), base_url=config.require("githubUrl"),
                token=config.require_secret("githubToken"))
command.Provider("command")
