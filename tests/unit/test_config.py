"""Every config rule: valid stacks parse; each bad input gets its own exact message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from slipway.config import DEFAULT_MIGRATION_STEPS, StackConfig, parse_stack_config
from slipway.errors import ConfigError
from tests.unit.stackfiles import OLD_SHA, SECRETS, SHA, FakeGit, project_dir, raw_config

Raw = dict[str, str]


def parse(raw: Raw, tmp: Path, git: FakeGit | None = None, stack: str = "dev",
          secret_keys: set[str] | None = None) -> StackConfig:
    keys = set(SECRETS) if secret_keys is None else secret_keys
    return parse_stack_config(raw, keys, stack=stack, project_dir=project_dir(tmp),
                              git=git or FakeGit())


@pytest.mark.parametrize("stack", ["dev", "uat", "prod"])
def test_committed_stacks_parse(stack: str, tmp_path: Path) -> None:
    cfg = parse(raw_config(stack), tmp_path, stack=stack)
    assert cfg.environment == stack
    assert cfg.release.sha == SHA and cfg.release.mode == "build"
    assert cfg.image_tag() == f"{stack}-{SHA}"
    assert cfg.latest_tag == f"{stack}-latest"
    assert cfg.github.environment == f"{stack}-backend"
    assert [s.name for s in cfg.services] == ["backend", "frontend"]
    assert cfg.migration.steps == DEFAULT_MIGRATION_STEPS
    assert cfg.migration.timeout_minutes == 15
    assert cfg.secrets["SECRET_KEY"].reveal() == "django-s3cret-key-value-0123456789"


def test_defaults_when_migration_section_is_absent(tmp_path: Path) -> None:
    raw = raw_config("dev")
    del raw["slipway:migration"]
    cfg = parse(raw, tmp_path)
    assert cfg.migration.steps == DEFAULT_MIGRATION_STEPS
    assert cfg.migration.timeout_minutes == 15
    assert cfg.migration.service == "backend"


def test_the_migration_runs_a_process_per_step_unless_the_django_runner_is_asked_for(
        tmp_path: Path) -> None:
    assert parse(raw_config("dev"), tmp_path).migration.runner == "processes"
    raw = raw_config("dev")
    django_runner_with(list(DEFAULT_MIGRATION_STEPS[1]))(raw)
    assert parse(raw, tmp_path).migration.runner == "django"


def test_first_release_steps_run_in_a_setup_of_their_own(tmp_path: Path) -> None:
    """They run in a container of their own: their Python and manage.py need only agree with
    each other."""
    raw = raw_config("dev")
    django_runner_with(list(DEFAULT_MIGRATION_STEPS[1]))(raw)
    migration = json.loads(raw["slipway:migration"])
    migration["firstReleaseSteps"] = [["python3", "src/manage.py", "loaddata", "seed.json"]]
    raw["slipway:migration"] = json.dumps(migration)
    assert parse(raw, tmp_path).migration.first_release_steps[0][1] == "src/manage.py"
    migration["firstReleaseSteps"].append(["python", "manage.py", "loaddata", "more.json"])
    raw["slipway:migration"] = json.dumps(migration)
    with pytest.raises(ConfigError) as raised:
        parse(raw, tmp_path)
    assert "slipway:migration.firstReleaseSteps[1]" in str(raised.value)
    assert "runs another Python or manage.py than the list's first step" in str(raised.value)


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    cfg = parse(raw_config("dev"), tmp_path)
    text = repr(cfg) + str(cfg)
    for value in ("dop_v1_registry-token-5ecret", "doadmin-pa55word-xyz", "ghp_t0kenvalue",
                  "django-s3cret-key-value"):
        assert value not in text


def edit(key: str, path: list[str], value: object) -> Callable[[Raw], None]:
    """Set `path` inside the object at `slipway:<key>` (None deletes it)."""
    def apply(raw: Raw) -> None:
        obj = json.loads(raw[f"slipway:{key}"])
        target = obj
        for part in path[:-1]:
            target = target[part]
        if value is None:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        raw[f"slipway:{key}"] = json.dumps(obj)
    return apply


def set_top(key: str, value: str | None) -> Callable[[Raw], None]:
    def apply(raw: Raw) -> None:
        if value is None:
            raw.pop(f"slipway:{key}", None)
        else:
            raw[f"slipway:{key}"] = value
    return apply


def django_runner(*steps: list[str]) -> Callable[[Raw], None]:
    """`runner: django` with these migration steps."""
    def apply(raw: Raw) -> None:
        migration = json.loads(raw["slipway:migration"])
        migration["runner"] = "django"
        migration["steps"] = list(steps)
        raw["slipway:migration"] = json.dumps(migration)
    return apply


def django_runner_with(second_step: list[str]) -> Callable[[Raw], None]:
    """`runner: django`, with `second_step` in place of the second migration step."""
    return django_runner(list(DEFAULT_MIGRATION_STEPS[0]), second_step)


# (id, change, key in the message, exact message text, text of the fix)
BAD_INPUTS: list[tuple[str, Callable[[Raw], None], str, str, str]] = [
    ("sha-latest", set_top("sha", "latest"), "slipway:sha",
     "'latest' is not a commit SHA; slipway deploys only immutable <env>-<git sha> images, "
     "never a mutable tag", "pulumi config set slipway:sha <sha of the release to run> --stack dev"),
    ("sha-env-latest", set_top("sha", "dev-latest"), "slipway:sha",
     "'dev-latest' is not a commit SHA; slipway deploys only immutable <env>-<git sha> images, "
     "never a mutable tag", "(or unset it to deploy HEAD)"),
    ("sha-too-short", set_top("sha", "abc1234"), "slipway:sha",
     "'abc1234' has 7 hex digits; give the full SHA or at least 12",
     "pulumi config set slipway:sha $(git rev-parse <commit>) --stack dev"),
    ("sha-unknown-short", set_top("sha", "deadbeefdead"), "slipway:sha",
     "'deadbeefdead' is a short SHA this checkout cannot expand",
     "pulumi config set slipway:sha <the full 40-hex sha> --stack dev"),
    ("environment-bad", set_top("environment", "Prod_1"), "slipway:environment",
     "'Prod_1' is not valid: use a short lower-case name such as dev, uat or prod",
     "pulumi config set slipway:environment dev --stack dev"),
    ("environment-missing", set_top("environment", None), "slipway:environment",
     "is missing", "pulumi config set slipway:environment dev --stack dev"),
    ("registry-password-missing", set_top("registryPassword", None), "slipway:registryPassword",
     "is missing", "pulumi config set --secret slipway:registryPassword --stack dev < registry-token.txt"),
    ("ssh-key-missing", set_top("sshPrivateKey", None), "slipway:sshPrivateKey", "is missing",
     "pulumi config set --secret slipway:sshPrivateKey --stack dev < ~/.ssh/deploy_ed25519"),
    ("db-password-missing", set_top("databaseAdminPassword", None), "slipway:databaseAdminPassword",
     "is missing",
     "pulumi config set --secret slipway:databaseAdminPassword --stack dev < db-admin-password.txt"),
    ("app-secret-missing", set_top("secrets", json.dumps({})), "slipway:secrets.SECRET_KEY",
     "is missing (service 'backend' lists it in secretEnv)",
     "pulumi config set --secret --path 'slipway:secrets.SECRET_KEY' --stack dev < <file with the value>"),
    ("host-key-missing", edit("server", ["hostKey"], None), "slipway:server.hostKey",
     "is missing; slipway never connects to a server whose key is not pinned", "ssh-keyscan"),
    ("host-key-garbage", edit("server", ["hostKey"], "not-a-key"), "slipway:server.hostKey",
     "'not-a-key' is not a public host key line", "ssh-keyscan"),
    ("host-key-type-mismatch", edit("server", ["hostKey"],
     "ecdsa-sha2-nistp256 AAAAC3NzaC1lZDI1NTE5AAAAIB3+4zzZgWaMpL4z5USmPAHSuKWXSuhvcchYJAfBWpXL"),
     "slipway:server.hostKey", "says ecdsa-sha2-nistp256 but the key inside is ssh-ed25519",
     "ssh-keyscan"),
    ("server-password", edit("server", ["password"], "hunter2"), "slipway:server.password",
     "password logins are not supported; slipway uses SSH keys only",
     "remove slipway:server.password"),
    ("no-host-key-checking", edit("server", ["strictHostKeyChecking"], "no"),
     "slipway:server.strictHostKeyChecking",
     "cannot be configured: the server's host key is always verified", "pin the key"),
    ("server-root", edit("server", ["user"], "root"), "slipway:server.user",
     "is 'root'; deploy as an unprivileged user in the docker group", "slipway:server.user' deploy"),
    ("server-port", edit("server", ["port"], 70000), "slipway:server.port",
     "must be between 1 and 65535, got 70000", "--path 'slipway:server.port' 22"),
    ("secret-in-plain-env", edit("services", ["backend", "env", "DJANGO_SECRET_KEY"], "x"),
     "slipway:services.backend.env.DJANGO_SECRET_KEY",
     "looks like a secret but is a plain env var (it would sit in plain text in the stack file "
     "and in state)", "add DJANGO_SECRET_KEY to slipway:services.backend.secretEnv"),
    ("publish-unknown-secret", edit("github", ["secrets"], ["DATABASE_URL", "DJANGO_SECRET_KEY"]),
     "slipway:github.secrets",
     "publishes 'DJANGO_SECRET_KEY', which no service reads (known secrets: DATABASE_URL, "
     "SECRET_KEY)", "publish only names listed in a service's secretEnv"),
    ("github-env-of-other-stack", edit("github", ["environment"], "prod-backend"),
     "slipway:github.environment",
     "'prod-backend' does not belong to environment 'dev'; stacks must not write another "
     "environment's secrets", "dev-backend"),
    ("migration-step-string", edit("migration", ["steps"], ["python manage.py migrate"]),
     "slipway:migration.steps[0]",
     "is a string; give each step as a list of arguments so nothing is re-parsed by a shell",
     '["python", "manage.py", "migrate"]'),
    ("migration-timeout", edit("migration", ["timeoutMinutes"], 0), "slipway:migration.timeoutMinutes",
     "must be between 1 and 120, got 0", "--path 'slipway:migration.timeoutMinutes' 15"),
    ("migration-runner-unknown", edit("migration", ["runner"], "celery"), "slipway:migration.runner",
     "'celery' is not valid: processes or django", "--path 'slipway:migration.runner' django"),
    ("migration-django-runner-shell-step", django_runner_with(["sh", "-c", "true"]),
     "slipway:migration.steps[1]",
     '["sh", "-c", "true"] does not start with a Python interpreter (runner: django runs manage.py'
     " commands only)", "write it as [python, manage.py, <command>, ...], or set"
     " slipway:migration.runner to processes"),
    ("migration-django-runner-other-script", django_runner_with(["python", "other.py", "seed"]),
     "slipway:migration.steps[1]", '["python", "other.py", "seed"] does not run manage.py', "processes"),
    ("migration-django-runner-no-command", django_runner_with(["python", "manage.py"]),
     "slipway:migration.steps[1]", '["python", "manage.py"] names no manage.py command', "processes"),
    ("migration-django-runner-other-python", django_runner_with(["python3.12", "manage.py", "seed"]),
     "slipway:migration.steps[1]",
     '["python3.12", "manage.py", "seed"] runs another Python or manage.py than the list\'s first'
     " step",
     "processes"),
    ("migration-django-runner-bad-first-step",
     django_runner(["sh", "-c", "true"], list(DEFAULT_MIGRATION_STEPS[1])),
     "slipway:migration.steps[0]",
     '["sh", "-c", "true"] does not start with a Python interpreter (runner: django runs manage.py'
     " commands only)", "write it as [python, manage.py, <command>, ...]"),
    ("migration-unknown-service", edit("migration", ["service"], "worker"),
     "slipway:migration.service", "names 'worker', which is not a service (backend, frontend)",
     "backend"),
    ("health-path", edit("services", ["backend", "healthPath"], "ready"),
     "slipway:services.backend.healthPath", "'ready' is not valid: a path starting with /",
     "healthPath"),
    ("duplicate-port", edit("services", ["frontend", "port"], 8000), "slipway:services.frontend.port",
     "8000 is already used by service 'backend'", "<another port>"),
    ("context-missing", edit("services", ["backend", "context"], "../nowhere"),
     "slipway:services.backend.context", "'../nowhere' is not a directory", "checkout"),
    ("volume-relative", edit("services", ["backend", "volumes"], ["media:/app/media"]),
     "slipway:services.backend.volumes", "'media:/app/media' is not HOST_PATH:CONTAINER_PATH[:ro|rw]",
     "absolute paths"),
    ("repository-uppercase", edit("services", ["backend", "repository"], "ProjectMeats"),
     "slipway:services.backend.repository",
     "'ProjectMeats' is not valid: lower-case image repository name", "repository"),
    ("database-same-role", edit("database", ["role"], "doadmin"), "slipway:database.role",
     "must differ from adminUser: the app gets its own least-privilege role", "<app role>"),
    ("sslmode", edit("database", ["sslmode"], "on"), "slipway:database.sslmode",
     "'on' is not valid: one of disable, allow, prefer, require, verify-ca, verify-full", "require"),
    ("reviewer-logins", edit("github", ["reviewers"], {"users": ["octocat"]}),
     "slipway:github.reviewers.users", "must be a list of numeric GitHub ids", "gh api users/"),
    ("database-url-in-secret-env", edit("services", ["backend", "secretEnv"],
     ["SECRET_KEY", "DATABASE_URL"]), "slipway:services.backend.secretEnv.DATABASE_URL",
     "is generated by slipway from the database it creates", "remove DATABASE_URL"),
    ("github-variable-secret", edit("github", ["variables", "API_TOKEN"], "x"),
     "slipway:github.variables.API_TOKEN", "looks like a secret; GitHub variables are plain text",
     "slipway:github.secrets"),
]


@pytest.mark.parametrize(("change", "key", "message", "fix"),
                         [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_names_the_key_the_problem_and_the_fix(
    change: Callable[[Raw], None], key: str, message: str, fix: str, tmp_path: Path
) -> None:
    raw = raw_config("dev")
    change(raw)
    with pytest.raises(ConfigError) as caught:
        parse(raw, tmp_path)
    problems = {p.key: p for p in caught.value.problems}
    assert key in problems, caught.value.keys()
    assert problems[key].message.startswith(message), problems[key].message
    assert fix in problems[key].fix
    text = str(caught.value)
    assert "nothing was changed" in text and key in text


def test_plaintext_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw_config("dev"), tmp_path, secret_keys=set(SECRETS) - {"slipway:githubToken"})
    problem = caught.value.problems[0]
    assert problem.key == "slipway:githubToken"
    assert problem.message == "is stored in plain text; it is a secret and must be encrypted"
    assert problem.fix.startswith("pulumi config set --secret slipway:githubToken")
    assert "ghp_t0kenvalue123456" not in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    raw = raw_config("dev")
    raw["slipway:sha"] = "latest"
    del raw["slipway:sshPrivateKey"]
    edit("server", ["hostKey"], None)(raw)
    # A rule across sections still runs while another section (server) is invalid.
    edit("services", ["backend", "env", "DJANGO_SECRET_KEY"], "x")(raw)
    with pytest.raises(ConfigError) as caught:
        parse(raw, tmp_path)
    assert set(caught.value.keys()) == {"slipway:sha", "slipway:sshPrivateKey", "slipway:server.hostKey",
                                        "slipway:services.backend.env.DJANGO_SECRET_KEY"}
    assert "has 4 config problems" in str(caught.value)


def test_rollback_pin_reuses_and_never_builds(tmp_path: Path) -> None:
    raw = raw_config("prod")
    raw["slipway:sha"] = OLD_SHA
    cfg = parse(raw, tmp_path, stack="prod")
    assert cfg.release.mode == "reuse" and cfg.release.sha == OLD_SHA


def test_short_pin_is_expanded_from_the_checkout(tmp_path: Path) -> None:
    raw = raw_config("dev")
    raw["slipway:sha"] = OLD_SHA[:12]
    assert parse(raw, tmp_path).release.sha == OLD_SHA


def test_pin_of_head_builds(tmp_path: Path) -> None:
    raw = raw_config("dev")
    raw["slipway:sha"] = SHA.upper()
    cfg = parse(raw, tmp_path)
    assert cfg.release.mode == "build" and cfg.release.sha == SHA


def test_dirty_checkout_is_refused_for_a_build(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw_config("dev"), tmp_path, git=FakeGit(dirty=True))
    assert "has uncommitted changes" in str(caught.value)


def test_dirty_checkout_is_fine_for_a_rollback(tmp_path: Path) -> None:
    raw = raw_config("dev")
    raw["slipway:sha"] = OLD_SHA
    assert parse(raw, tmp_path, git=FakeGit(dirty=True)).release.mode == "reuse"


def test_no_checkout_and_no_pin(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw_config("dev"), tmp_path, git=FakeGit(head=None))
    assert caught.value.problems[0].key == "slipway:sha"
    assert "not a git checkout" in caught.value.problems[0].message


def test_bad_input_table_is_large_enough() -> None:
    assert len(BAD_INPUTS) >= 20


def test_the_local_stack_parses_against_this_repository() -> None:
    from tests.unit.stackfiles import REPO

    raw = {**raw_config("local")}
    raw.pop("slipway:registryPassword")  # the sandbox registry needs no login
    edit("server", ["hostKey"],
         "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3+4zzZgWaMpL4z5USmPAHSuKWXSuhvcchYJAfBWpXL")(raw)
    cfg = parse_stack_config(raw, set(SECRETS), stack="local", project_dir=REPO, git=FakeGit())
    assert cfg.registry.username is None and cfg.registry.password is None
    assert cfg.service("backend").context == "examples/tenants_app"
    assert cfg.github.base_url == "http://127.0.0.1:8765/"
