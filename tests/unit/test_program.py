"""The program's resource graph under Pulumi mocks: tags, ordering, secrets, stacks alike."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tests.unit.harness import Run, run_program, without_secrets
from tests.unit.stackfiles import OLD_SHA, SECRET_VALUES, SECRETS, SHA, project_dir, raw_config

DIGEST_REF = re.compile(r"^[^@\s]+:(dev|uat|prod)-[0-9a-f]{40}@sha256:[0-9a-f]{64}$")


def run(stack: str, tmp_path: Path, **overrides: str) -> Run:
    raw = {**raw_config(stack), **overrides}
    return run_program(stack, raw, set(SECRETS), project_dir(tmp_path))


def test_build_pushes_the_sha_tag_and_moves_latest_onto_the_same_digest(tmp_path: Path) -> None:
    result = run("dev", tmp_path)
    builds = result.of_type("docker:index/image:Image")
    assert sorted(b.inputs["imageName"] for b in builds) == [
        f"registry.digitalocean.com/projectmeats/projectmeats-backend:dev-{SHA}",
        f"registry.digitalocean.com/projectmeats/projectmeats-frontend:dev-{SHA}",
    ]
    for build in builds:
        assert build.inputs["build"]["args"]["APP_SHA"] == SHA
        assert build.inputs["build"]["network"] == "host"
    tags = result.of_type("docker:index/tag:Tag")
    assert sorted(t.inputs["targetImage"] for t in tags) == [
        "registry.digitalocean.com/projectmeats/projectmeats-backend:dev-latest",
        "registry.digitalocean.com/projectmeats/projectmeats-frontend:dev-latest",
    ]
    pushes = result.of_type("docker:index/registryImage:RegistryImage")
    assert all(p.inputs["keepRemotely"] for p in pushes)
    # latest is the very digest that was built: the tag moves, nothing is rebuilt.
    build_digests = {b.inputs["imageName"].rsplit(":", 1)[0]: b.inputs["repoDigest"] for b in builds}
    for push in pushes:
        assert push.inputs["sha256Digest"] == build_digests[push.inputs["name"].rsplit(":", 1)[0]
                                                             ].rsplit("@", 1)[1]


def test_builds_use_buildkit_and_a_tag_already_pushed_keeps_its_builder(tmp_path: Path) -> None:
    """A release built by an earlier slipway (the classic builder) is not rebuilt only because the
    builder changed: its build keeps the builder in state; a new SHA's build uses BuildKit."""
    from tests.unit.harness import FakeCloud

    cloud = FakeCloud(pushed_tags={f"projectmeats-backend:dev-{SHA}"})
    result = run_program("dev", raw_config("dev"), set(SECRETS), project_dir(tmp_path), cloud=cloud)
    builds = {b.name: b for b in result.of_type("docker:index/image:Image")}
    assert {name: b.inputs["build"]["builderVersion"] for name, b in builds.items()} == {
        "app-backend-image-build": "BuilderBuildKit", "app-frontend-image-build": "BuilderBuildKit"}
    assert builds["app-backend-image-build"].ignore_changes == ["build.builderVersion"]
    assert builds["app-frontend-image-build"].ignore_changes == []


def test_deploys_and_migration_use_the_sha_tag_pinned_by_digest(tmp_path: Path) -> None:
    result = run("dev", tmp_path)
    migration = result.named("app-migration-run")
    plan = json.loads(migration.inputs["environment"]["SLIPWAY_MIGRATION_PLAN"])
    assert DIGEST_REF.match(plan["image"]), plan["image"]
    assert plan["steps"] == [
        ["python", "manage.py", "migrate_schemas", "--shared", "--fake-initial"],
        ["python", "manage.py", "create_super_tenant", "--no-input"],
        ["python", "manage.py", "migrate_schemas", "--tenant"],
    ]
    assert plan["timeout_seconds"] == 900
    for deploy in [result.named("app-backend-deploy"), result.named("app-frontend-deploy")]:
        argv = shlex.split(deploy.inputs["create"])
        image = argv[argv.index("--image") + 1]
        assert DIGEST_REF.match(image), argv
        assert argv[argv.index("--entrypoint") + 2] == image  # the container runs that image
        assert "-latest" not in deploy.inputs["create"]


def test_migration_reruns_only_on_digest_or_steps(tmp_path: Path) -> None:
    result = run("dev", tmp_path)
    migration = result.named("app-migration-run")
    triggers = migration.inputs["triggers"]
    plan = json.loads(migration.inputs["environment"]["SLIPWAY_MIGRATION_PLAN"])
    assert triggers[0] == plan["image"] and "@sha256:" in triggers[0]
    assert json.loads(triggers[1]) == plan["steps"]
    # The command line itself never changes between releases, so it never forces a re-run.
    again = run("dev", tmp_path / "again", **{"slipway:sha": OLD_SHA})
    assert again.named("app-migration-run").inputs["create"] == migration.inputs["create"]
    assert again.named("app-migration-run").inputs["triggers"][0] != triggers[0]


def test_deploy_consumes_the_migration_output(tmp_path: Path) -> None:
    result = run("dev", tmp_path)
    migration = result.named("app-migration-run")
    backend = result.named("app-backend-deploy")
    assert migration.urn in backend.dependencies
    assert result.named("app-frontend-deploy").dependencies.count(migration.urn) == 1


def test_deploy_refuses_when_the_migration_reports_another_image(tmp_path: Path) -> None:
    from tests.unit.harness import FakeCloud

    cloud = FakeCloud(migration_reports="registry.example/other:dev-x@sha256:" + "0" * 64)
    with pytest.raises(Exception, match="the migration ran against"):
        run_program("dev", raw_config("dev"), set(SECRETS), project_dir(tmp_path), cloud=cloud)


def test_rollback_pin_builds_nothing_and_looks_the_tag_up(tmp_path: Path) -> None:
    result = run("prod", tmp_path, **{"slipway:sha": OLD_SHA})
    assert result.of_type("docker:index/image:Image") == []
    assert result.of_type("docker:index/tag:Tag") == []
    looked_up = [a["name"] for t, a in result.cloud.invokes
                 if t == "docker:index/getRegistryImage:getRegistryImage"]
    assert sorted(looked_up) == [
        f"registry.digitalocean.com/projectmeats/projectmeats-backend:prod-{OLD_SHA}",
        f"registry.digitalocean.com/projectmeats/projectmeats-frontend:prod-{OLD_SHA}",
    ]
    deploy = result.named("app-backend-deploy").inputs["create"]
    assert f"slipway.sha={OLD_SHA}" in deploy and SHA not in deploy


def test_rollback_to_a_missing_tag_fails(tmp_path: Path) -> None:
    from tests.unit.harness import FakeCloud

    missing = f"registry.digitalocean.com/projectmeats/projectmeats-backend:prod-{OLD_SHA}"
    with pytest.raises(Exception, match="not found"):
        run_program("prod", {**raw_config("prod"), "slipway:sha": OLD_SHA}, set(SECRETS),
                    project_dir(tmp_path), cloud=FakeCloud(missing_tags={missing}))


def test_no_secret_in_any_plain_input(tmp_path: Path) -> None:
    result = run("prod", tmp_path)
    for reg in result.registrations:
        text = json.dumps(without_secrets(reg.raw))
        for value in SECRET_VALUES:
            assert value not in text, f"{reg.typ} {reg.name} carries a secret in plain text"


def test_secret_inputs_are_marked_secret(tmp_path: Path) -> None:
    result = run("prod", tmp_path)
    assert "stdin" in result.named("app-migration-run").secret_fields()
    for name in ("app-backend-deploy", "app-frontend-deploy"):
        assert {"stdin", "connection"} <= result.named(name).secret_fields()
    secrets = result.of_type("github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")
    assert sorted(s.inputs["secretName"] for s in secrets) == ["DATABASE_URL", "SECRET_KEY"]
    assert all("value" in s.secret_fields() for s in secrets)
    assert "password" in result.named("app-database-role").secret_fields()


def test_github_environment_names_and_reviewers(tmp_path: Path) -> None:
    env = run("prod", tmp_path).of_type("github:index/repositoryEnvironment:RepositoryEnvironment")
    assert [e.inputs["environment"] for e in env] == ["prod-backend"]
    assert env[0].inputs["reviewers"] == [{"users": [58329014], "teams": [9124570]}]


def test_dev_uat_prod_have_the_same_graph(tmp_path: Path) -> None:
    graphs = {stack: run(stack, tmp_path / stack).graph() for stack in ("dev", "uat", "prod")}
    assert graphs["dev"] == graphs["uat"] == graphs["prod"]
    assert len(graphs["dev"]) > 20


def test_stacks_differ_only_in_values(tmp_path: Path) -> None:
    dev, prod = run("dev", tmp_path / "d"), run("prod", tmp_path / "p")
    for a, b in zip(sorted(dev.registrations, key=lambda r: (r.typ, r.name)),
                    sorted(prod.registrations, key=lambda r: (r.typ, r.name)), strict=True):
        assert set(a.raw) == set(b.raw), (a.typ, a.name)


def test_resource_names_match_what_the_policy_pack_and_plan_comment_look_for(tmp_path: Path) -> None:
    from slipway.naming import DEPLOY_COMMAND_SUFFIX, MIGRATION_COMMAND_SUFFIX, MIGRATION_PLAN_ENV

    result = run("dev", tmp_path)
    migrations = [r for r in result.of_type("command:local:Command")
                  if r.name.endswith(MIGRATION_COMMAND_SUFFIX)]
    assert len(migrations) == 1 and MIGRATION_PLAN_ENV in migrations[0].inputs["environment"]
    deploys = [r.name for r in result.of_type("command:remote:Command")
               if r.name.endswith(DEPLOY_COMMAND_SUFFIX)]
    assert sorted(deploys) == ["app-backend-deploy", "app-frontend-deploy"]


def migration_plan(result: Run) -> dict[str, object]:
    return dict(json.loads(result.named("app-migration-run").inputs["environment"]["SLIPWAY_MIGRATION_PLAN"]))


def test_prod_backs_up_to_its_server_before_migrating_and_the_key_travels_secret(tmp_path: Path) -> None:
    result = run("prod", tmp_path)
    plan = migration_plan(result)
    assert plan["backup"] == {"stack": "prod", "directory": "/srv/slipway/backups", "keep": 14,
                              "client_dir": None, "host": "meatscentral.com", "port": 22,
                              "user": "deploy", "host_key": plan["backup"]["host_key"]}  # type: ignore[index]
    assert "skip" not in plan
    assert "stdin" in result.named("app-migration-run").secret_fields()
    # dev takes none: its plan is exactly what it was before backups existed.
    assert "backup" not in migration_plan(run("dev", tmp_path / "dev"))


def test_a_rollback_pin_runs_no_step_and_takes_no_backup(tmp_path: Path) -> None:
    plan = migration_plan(run("prod", tmp_path, **{"slipway:sha": OLD_SHA}))
    assert plan["skip"] == "rollback" and "backup" not in plan
    migration = json.loads(raw_config("prod")["slipway:migration"])
    wanted = run("prod", tmp_path / "run", **{"slipway:sha": OLD_SHA, "slipway:migration": json.dumps(
        {**migration, "onRollback": "run"})})
    assert "skip" not in migration_plan(wanted) and "backup" in migration_plan(wanted)


def test_first_release_steps_run_after_the_migration_once_the_database_was_probed(tmp_path: Path) -> None:
    migration = json.loads(raw_config("dev")["slipway:migration"])
    seed = ["python", "manage.py", "loaddata", "initial"]
    result = run("dev", tmp_path, **{"slipway:migration": json.dumps(
        {**migration, "firstReleaseSteps": [seed]})})
    probe, run_, first = (result.named(n) for n in (
        "app-database-fresh", "app-migration-run", "app-migration-first-release"))
    assert probe.urn in run_.dependencies and run_.urn in first.dependencies
    plan = json.loads(first.inputs["environment"]["SLIPWAY_MIGRATION_PLAN"])
    assert plan["steps"] == [seed]
    assert first.urn in result.named("app-backend-deploy").dependencies
    assert "stdin" in probe.secret_fields() and "stdin" in first.secret_fields()
    assert all(r.name not in ("app-database-fresh", "app-migration-first-release")
               for r in run("dev", tmp_path / "none").registrations)


def test_each_release_is_staged_while_the_migration_runs_and_started_only_after_it(tmp_path: Path) -> None:
    result = run("dev", tmp_path)
    migration = result.named("app-migration-run")
    for service in ("backend", "frontend"):
        stage, deploy = result.named(f"app-{service}-stage"), result.named(f"app-{service}-deploy")
        staged, deployed = shlex.split(stage.inputs["create"]), shlex.split(deploy.inputs["create"])
        at = deployed.index("deploy")
        # The same release (options and `docker create`), by the agent's `stage`.
        assert staged[:at] == deployed[:at] and staged[at] == "stage"
        assert staged[at + 1:] == deployed[at + 1:]
        assert stage.inputs["stdin"] == deploy.inputs["stdin"]
        # Staging does not wait for the migration; the deploy waits for both.
        assert migration.urn not in stage.dependencies
        assert {stage.urn, migration.urn} <= set(deploy.dependencies)
        # Nor does the proxy's config the stage waits for.
        assert migration.urn not in result.named(f"app-{service}-proxy").dependencies


def test_the_rollback_key_is_installed_on_each_server_and_published_secret_when_asked(tmp_path: Path) -> None:
    from slipway.rollback_key import ENV_VAR

    plain = run("prod", tmp_path / "off")
    assert not [r for r in plain.registrations if r.name.endswith("-rollback-key")]
    result = run("prod", tmp_path / "on", **{"slipway:rollbackKey": "true"})
    installed = result.named("app-server-rollback-key")
    create = installed.inputs["create"]
    assert "restrict,command=" in create and "slipway-rollback-prod" in create
    assert "slipway-rollback-prod" in installed.inputs["delete"]
    assert {"stdin", "connection"} <= installed.secret_fields()
    secrets = result.of_type("github:index/actionsEnvironmentSecret:ActionsEnvironmentSecret")
    assert sorted(s.inputs["secretName"] for s in secrets) == ["DATABASE_URL", "SECRET_KEY", ENV_VAR]
    assert all("value" in s.secret_fields() for s in secrets)
    for reg in result.registrations:  # the key's private half is never a plain input
        assert "OPENSSH PRIVATE KEY" not in json.dumps(without_secrets(reg.raw)), reg.name
