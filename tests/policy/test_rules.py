"""Fast tests of policy/rules.py: each rule fires on crafted inputs and passes slipway's own.

The resources are what the engine sends (camelCase input names, after the provider's Check),
with secrets as SecretStr and preview unknowns as Unknown, as policy.values makes them.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from policy import rules
from policy.rules import StackResource
from policy.values import InheritedSecretStr, SecretStr, Unknown
from slipway.commands.agent import agent_path
from slipway.commands.deploy import DeployPlan, deploy_command, remove_command
from slipway.commands.migration import MigrationPlan
from slipway.naming import MIGRATION_PLAN_ENV

SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
REPO = "registry.example.com/team/app"
PINNED = f"{REPO}:prod-{SHA}@{DIGEST}"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
LOCAL, REMOTE = rules.LOCAL_COMMAND, rules.REMOTE_COMMAND


def migration_props(image: str = PINNED, **extra: Any) -> dict[str, Any]:
    plan = MigrationPlan(environment="prod", sha=SHA, image=image,
                         steps=(("python", "manage.py", "migrate"),), timeout_seconds=900, network="host")
    return {"create": "python3 -m slipway.runners.migrate",
            "environment": {MIGRATION_PLAN_ENV: plan.to_json()},
            "stdin": SecretStr("DATABASE_URL='postgres://app:pw-123456789@db/app'\n"), **extra}


def deploy_plan(image: str = PINNED) -> DeployPlan:
    return DeployPlan(
        environment="prod", service="backend", sha=SHA, image=image, migrated_image=image, migrates=True,
        port=8000, health_path="/health", health_timeout_seconds=60, deploy_dir="/srv/slipway",
        command=("gunicorn", "app.wsgi"), env={"DJANGO_SETTINGS_MODULE": "app.settings"}, volumes=(),
        command_timeout_seconds=600, agent=agent_path("/srv/slipway"), where="deploy@203.0.113.10:22",
        internal_ports=(18000, 28000), drain_seconds=10, stop_timeout_seconds=30, keep_releases=3,
        proxy_image=f"docker.io/library/nginx:1.27-alpine@{DIGEST}",
    )


def deploy_props(image: str = PINNED, **extra: Any) -> dict[str, Any]:
    """What slipway's Service declares, rendered by slipway's own renderers."""
    plan = deploy_plan(image)
    connection = {"host": "203.0.113.10", "port": 22.0, "user": "deploy", "hostKey": "ssh-ed25519 AAAAC3Nz",
                  "privateKey": KEY}
    return {
        # The command provider holds the whole connection as a secret.
        "connection": {k: InheritedSecretStr(v) if isinstance(v, str) else v for k, v in connection.items()}
        | {"privateKey": SecretStr(KEY)},
        "create": deploy_command(plan),
        "delete": remove_command(plan),
        "stdin": SecretStr("SECRET_KEY='django-secret-value-1'\n"),
        "addPreviousOutputInEnv": False,
        **extra,
    }


def script_with(line: str) -> str:
    return shlex.join(["timeout", "--kill-after=15", "600", "sh", "-c", f"set -eu\n{line}\n"])


# ------------------------------------------------------------------ rule 1: images


@pytest.mark.parametrize("ref", [
    PINNED,
    f"{REPO}@{DIGEST}",
    DIGEST,  # an image ID
    f"localhost:5000/app:v1.2.3@{DIGEST}",
    f"app:uat-{SHA[:12]}@{DIGEST}",
])
def test_immutable_pinned_refs_pass(ref: str) -> None:
    assert rules.image_problems(ref) == []


@pytest.mark.parametrize(("ref", "expected"), [
    (f"{REPO}:prod-latest", ["mutable tag 'prod-latest'", "not pinned by digest"]),
    (f"{REPO}:latest@{DIGEST}", ["mutable tag 'latest'"]),
    (f"{REPO}:prod-{SHA}", ["not pinned by digest"]),
    (REPO, ["not pinned by digest"]),
    ("localhost:5000/app:main", ["mutable tag 'main'", "not pinned by digest"]),
    (f"{REPO}:1.2@{DIGEST}", ["mutable tag '1.2'"]),
    (f"{REPO}:prod-{SHA}@sha256:abc", ["not pinned by digest"]),
    ("$IMAGE", ["shell expansion"]),
])
def test_mutable_or_unpinned_refs_fail(ref: str, expected: list[str]) -> None:
    problems = " ".join(rules.image_problems(ref))
    for text in expected:
        assert text in problems, (ref, problems)


def test_slipway_migration_and_deploy_pass() -> None:
    assert rules.check_images(LOCAL, "app-migration-run", migration_props()) == []
    assert rules.check_images(REMOTE, "app-backend-deploy", deploy_props()) == []


def test_docker_refs_are_found_in_slipways_deploy_script() -> None:
    refs = rules.docker_image_refs(deploy_props()["create"])
    # `docker pull` and `docker run` both name the pinned image, nothing else is an image.
    assert refs == [PINNED]


def test_migration_with_mutable_image_fires() -> None:
    messages = rules.check_images(LOCAL, "app-migration-run", migration_props(f"{REPO}:prod-latest"))
    assert len(messages) == 1
    assert "app-migration-run.environment.SLIPWAY_MIGRATION_PLAN" in messages[0]
    assert "mutable tag 'prod-latest'" in messages[0] and "not pinned by digest" in messages[0]


def test_migration_plan_that_hides_its_image_fires() -> None:
    props = migration_props()
    props["environment"] = {MIGRATION_PLAN_ENV: "not json"}
    assert "is not valid JSON" in rules.check_images(LOCAL, "m", props)[0]
    props["environment"] = {MIGRATION_PLAN_ENV: json.dumps({"steps": []})}
    assert "has no `image`" in rules.check_images(LOCAL, "m", props)[0]


def test_unknown_plan_or_script_is_not_judged_in_preview() -> None:
    props = migration_props()
    props["environment"] = {MIGRATION_PLAN_ENV: Unknown()}
    assert rules.check_images(LOCAL, "m", props) == []
    assert rules.check_images(REMOTE, "d", deploy_props(create=Unknown())) == []


@pytest.mark.parametrize("line", [
    f"timeout 600 docker pull --quiet {REPO}:prod-latest >/dev/null",
    f"docker image pull {REPO}:prod-{SHA}",
    f"if docker run --name x --env A=b -d --rm --volume \"$f\":/x:ro {REPO}:latest -c 'x'; then :; fi",
    f"docker container create -it --network host {REPO}:main",
    f"printf 'unbalanced \\n' && docker pull {REPO}:latest 'x",  # shlex fails: regex fallback
])
def test_deploy_script_pulling_a_mutable_or_unpinned_image_fires(line: str) -> None:
    messages = rules.check_images(REMOTE, "app-backend-deploy", deploy_props(create=script_with(line)))
    assert messages and all("app-backend-deploy.create (docker)" in m for m in messages), messages


@pytest.mark.parametrize(("option", "message"), [
    ("--image", "app-backend-deploy.create (agent): image 'nginx:latest' uses the mutable tag 'latest' "
     "and is not pinned by digest (@sha256:...); deploy and migrate only "
     "`<repo>:<env>-<sha>@sha256:<digest>`"),
    ("--proxy-image", "app-backend-deploy.create (agent): proxy image 'nginx:latest' is not pinned by digest "
     "(@sha256:...)"),
])
def test_an_agent_told_to_run_a_mutable_image_fires(option: str, message: str) -> None:
    argv = shlex.split(deploy_props()["create"])
    argv[argv.index(option) + 1] = "nginx:latest"
    changed = deploy_props(create=shlex.join(argv))
    assert rules.check_images(REMOTE, "app-backend-deploy", changed) == [message]
    assert rules.check_images(REMOTE, "app-backend-deploy", deploy_props()) == []


def test_deploy_rendered_by_slipway_for_an_unpinned_image_is_refused_before_policy() -> None:
    # slipway's renderer already refuses it; the policy is the second line of defence.
    with pytest.raises(ValueError, match="not pinned by digest"):
        deploy_command(deploy_plan(f"{REPO}:prod-latest"))


@pytest.mark.parametrize(("resource_type", "props", "where"), [
    (rules.DOCKER_CONTAINER, {"image": f"{REPO}:latest", "name": "c"}, "c.image"),
    (rules.DOCKER_REMOTE_IMAGE, {"name": "nginx:1.25"}, "c.name"),
    (rules.DOCKER_SERVICE, {"taskSpec": {"containerSpec": {"image": "nginx"}}},
     "c.taskSpec.containerSpec.image"),
])
def test_docker_resources_with_unpinned_images_fire(resource_type: str, props: dict[str, Any],
                                                    where: str) -> None:
    messages = rules.check_images(resource_type, "c", props)
    assert len(messages) == 1 and messages[0].startswith(where), messages


def test_docker_resources_with_pinned_images_pass() -> None:
    assert rules.check_images(rules.DOCKER_CONTAINER, "c", {"image": DIGEST}) == []
    assert rules.check_images(rules.DOCKER_REMOTE_IMAGE, "c", {"name": PINNED}) == []


# --------------------------------------------------------- rule 2: deploy after migration

MIGRATION_URN = "urn:pulumi:prod::slipway::slipway:index:Pipeline$command:local:Command::app-migration-run"
DEPLOY_URN = "urn:pulumi:prod::slipway::slipway:index:Pipeline$command:remote:Command::app-backend-deploy"
IMAGE_URN = "urn:pulumi:prod::slipway::docker:index/image:Image::app-backend-image-build"


def stack(deploy_deps: set[str], prop_deps: dict[str, set[str]] | None = None,
          with_migration: bool = True) -> list[StackResource]:
    resources = [StackResource(IMAGE_URN, "docker:index/image:Image", "app-backend-image-build", {})]
    if with_migration:
        resources.append(StackResource(MIGRATION_URN, LOCAL, "app-migration-run", migration_props()))
    resources.append(StackResource(DEPLOY_URN, REMOTE, "app-backend-deploy", deploy_props(),
                                   dependencies=deploy_deps, property_dependencies=prop_deps or {}))
    return resources


def test_deploy_that_consumes_the_migration_passes() -> None:
    assert rules.check_deploys_depend_on_migration(
        stack({IMAGE_URN, MIGRATION_URN}, {"create": {IMAGE_URN, MIGRATION_URN}})) == []
    assert rules.check_deploys_depend_on_migration(stack(set(), {"create": {MIGRATION_URN}})) == []
    assert rules.check_deploys_depend_on_migration(stack({MIGRATION_URN})) == []


def test_deploy_not_depending_on_the_migration_fires() -> None:
    out = rules.check_deploys_depend_on_migration(stack({IMAGE_URN}, {"create": {IMAGE_URN}}))
    assert out == [(DEPLOY_URN, out[0][1])]
    assert "app-backend-deploy does not depend on the migration (app-migration-run)" in out[0][1]


def test_deploy_without_any_migration_fires() -> None:
    out = rules.check_deploys_depend_on_migration(stack({IMAGE_URN}, with_migration=False))
    assert len(out) == 1 and "has no migration command" in out[0][1]


def test_migration_is_recognised_by_its_plan_as_well_as_its_name() -> None:
    renamed = StackResource("urn:x::m", LOCAL, "migrate-db", migration_props())
    assert rules.is_migration(renamed)
    assert not rules.is_migration(StackResource("urn:x::p", LOCAL, "app-database-password", {"create": "x"}))
    deploy = StackResource(DEPLOY_URN, REMOTE, "app-backend-deploy", {}, dependencies={"urn:x::m"})
    assert rules.check_deploys_depend_on_migration([renamed, deploy]) == []


# -------------------------------------------------------------- rule 3: prod reviewers

GH_ENV = rules.GITHUB_ENVIRONMENT


def gh_props(environment: str = "prod-backend", reviewers: Any = None) -> dict[str, Any]:
    return {"repository": "app", "environment": environment, "reviewers": reviewers or [],
            "canAdminsBypass": False}


@pytest.mark.parametrize(("environment", "stack_name", "slipway_env"), [
    ("prod-backend", "dev", "dev"),
    ("prod", None, None),
    ("production", None, None),
    ("backend", "prod", None),  # the stack is prod
    ("backend", None, "prod"),  # slipway:environment is prod
])
def test_prod_environment_without_reviewers_fires(environment: str, stack_name: str | None,
                                                  slipway_env: str | None) -> None:
    empty: list[list[dict[str, list[int]]]] = [[], [{"users": [], "teams": []}]]
    for reviewers in empty:
        out = rules.check_prod_reviewers(GH_ENV, "app-github-environment", gh_props(environment, reviewers),
                                         stack=stack_name, environment=slipway_env)
        assert len(out) == 1 and "has no reviewers" in out[0], out


@pytest.mark.parametrize("reviewers", [[{"users": [1234]}], [{"teams": [42], "users": []}],
                                       [{"users": Unknown()}], Unknown()])
def test_prod_environment_with_reviewers_passes(reviewers: Any) -> None:
    assert rules.check_prod_reviewers(GH_ENV, "e", gh_props("prod-backend", reviewers), stack="prod") == []


def test_non_prod_environment_needs_no_reviewers() -> None:
    assert rules.check_prod_reviewers(GH_ENV, "e", gh_props("uat-backend"),
                                      stack="uat", environment="uat") == []
    assert rules.check_prod_reviewers(LOCAL, "e", gh_props("prod"), stack="prod") == []


# ------------------------------------------------------- rule 4: secrets only as secrets


def test_slipways_commands_pass_the_secret_rules() -> None:
    for resource_type, name, props in ((LOCAL, "app-migration-run", migration_props()),
                                       (REMOTE, "app-backend-deploy", deploy_props())):
        assert rules.check_command_secret_inputs(resource_type, name, props) == []
        assert rules.check_command_lines(resource_type, name, props) == []
    resources = stack({MIGRATION_URN})
    assert rules.check_known_secrets_in_commands(resources) == []


def test_plain_text_stdin_fires() -> None:
    out = rules.check_command_secret_inputs(LOCAL, "app-migration-run",
                                            migration_props(stdin="DATABASE_URL='postgres://a:b@db/x'\n"))
    assert out == [out[0]] and out[0].startswith("app-migration-run.stdin carries a secret but is plain text")


@pytest.mark.parametrize("key", ["privateKey", "password", "privateKeyPassword"])
def test_plain_text_connection_credentials_fire(key: str) -> None:
    props = deploy_props()
    props["connection"] = dict(props["connection"]) | {key: "plain-credential"}
    out = rules.check_command_secret_inputs(REMOTE, "app-backend-deploy", props)
    assert out == [rules._plain_text(f"app-backend-deploy.connection.{key}")]


def test_plain_text_proxy_key_fires() -> None:
    props = deploy_props()
    props["connection"] = dict(props["connection"]) | {"proxy": {"host": "bastion", "privateKey": KEY}}
    out = rules.check_command_secret_inputs(REMOTE, "d", props)
    assert len(out) == 1 and "d.connection.proxy.privateKey" in out[0]


def test_secret_environment_values_must_be_secret() -> None:
    env = {
        MIGRATION_PLAN_ENV: "{}",
        "APP_SHA": SHA,
        "DB_PASSWORD": "hunter2hunter2",  # secret by name
        "SSH_PUBLIC_KEY": "ssh-ed25519 AAAA",  # public: fine
        "UPSTREAM": "https://user:pa55word@example.com/x",  # secret by shape
        "GITHUB_TOKEN": SecretStr("ghp_" + "a" * 36),  # secret: fine
        "API_KEY": Unknown(),  # not judged in preview
    }
    out = rules.check_command_secret_inputs(LOCAL, "c", {"create": "true", "environment": env})
    assert [m.split(" ", 1)[0] for m in out] == ["c.environment.DB_PASSWORD", "c.environment.UPSTREAM"]


def test_unknown_inputs_are_not_judged_in_preview() -> None:
    assert rules.check_command_secret_inputs(LOCAL, "c", {"create": "x", "stdin": Unknown()}) == []


@pytest.mark.parametrize(("line", "shape"), [
    ("psql postgres://app:hunter2@db.internal/app -c 'select 1'", "a URL with a password"),
    ("echo '-----BEGIN RSA PRIVATE KEY-----' > /tmp/k", "a private key block"),
    ("curl -H 'Authorization: token ghp_" + "x" * 36 + "' https://api.github.com", "a GitHub token"),
])
def test_secret_shapes_in_command_lines_fire(line: str, shape: str) -> None:
    for key in rules.COMMAND_SCRIPTS:
        out = rules.check_command_lines(REMOTE, "d", deploy_props(**{key: script_with(line)}))
        assert any(m.startswith(f"d.{key} contains {shape}") for m in out), out


def test_own_secret_values_in_command_lines_fire() -> None:
    # The deploy's env file (stdin) holds SECRET_KEY; its value must not also be on the line.
    props = deploy_props(create=script_with("docker run --env SECRET_KEY=django-secret-value-1 img"))
    out = rules.check_command_lines(REMOTE, "d", props)
    assert out == ["d.create contains the value of a secret in plain text; pass it on stdin or in a "
                   "secret environment value, never on the command line"]


def test_a_secret_command_line_fires() -> None:
    out = rules.check_command_lines(LOCAL, "c", {"create": SecretStr("mysql -pSECRET")})
    assert len(out) == 1 and "c.create is itself a secret" in out[0]


def test_connection_fields_that_are_secret_only_by_container_are_not_leaks() -> None:
    # host and user are in the provider-secret connection; the deploy's health check and logs
    # mention the host, which is not a leak.
    props = deploy_props(create=script_with("curl http://203.0.113.10:8000/health; echo deploy"))
    assert rules.check_command_lines(REMOTE, "d", props) == []


def test_known_secret_of_another_resource_in_a_command_fires() -> None:
    gh_secret = StackResource("urn:gh", "github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret",
                              "app-github-secret-SECRET_KEY",
                              {"secretName": "SECRET_KEY",
                               "plaintextValue": SecretStr("django-secret-value-9")})
    leaky = StackResource("urn:c", LOCAL, "app-notify",
                          {"create": "curl -d key=django-secret-value-9 https://hooks.example.com",
                           "environment": {"NOTE": "django-secret-value-9"}})
    out = rules.check_known_secrets_in_commands([gh_secret, leaky, *stack({MIGRATION_URN})])
    assert [(urn, m.split(" ", 1)[0]) for urn, m in out] == [("urn:c", "app-notify.create"),
                                                            ("urn:c", "app-notify.environment.NOTE")]


def test_short_or_trivial_secrets_are_not_matched() -> None:
    holder = StackResource("urn:h", LOCAL, "h", {"create": "true", "environment": {"PORT": SecretStr("5432"),
                                                                                  "X": SecretStr("true")}})
    user = StackResource("urn:u", LOCAL, "u", {"create": "psql -p 5432 -c true"})
    assert rules.check_known_secrets_in_commands([holder, user]) == []


def test_plain_settings_inside_a_secret_env_file_are_not_leaks() -> None:
    # slipway's migration env file (secret stdin) also carries the service's plain env, which
    # the deploy line passes with --env; only secret-looking names count as secrets.
    migration = StackResource(MIGRATION_URN, LOCAL, "app-migration-run", migration_props(
        stdin=SecretStr("DJANGO_SETTINGS_MODULE='app.settings.prod'\nSECRET_KEY='django-secret-value-7'\n")))
    deploy = StackResource(DEPLOY_URN, REMOTE, "app-backend-deploy", deploy_props(
        create=script_with("docker run --env DJANGO_SETTINGS_MODULE=app.settings.prod img")),
        dependencies={MIGRATION_URN})
    assert rules.check_known_secrets_in_commands([migration, deploy]) == []
    deploy.props = deploy_props(create=script_with("docker run --env SECRET_KEY=django-secret-value-7 img"))
    assert [urn for urn, _ in rules.check_known_secrets_in_commands([migration, deploy])] == [DEPLOY_URN]
