"""The example backend (examples/tenants_app) against the real sandbox: docker on the host
network and Debian's PostgreSQL on 127.0.0.1:5432.

Every container is started the way slipway starts it: `--entrypoint /bin/sh`, the env
loaded from a mounted file (or stdin for migration steps), then `exec "$@"`.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.example_app import sandbox
from tests.example_app.sandbox import STEPS, app_env, write_env_file

pytestmark = pytest.mark.e2e

Images = dict[str, str]
MakeDb = Callable[[], sandbox.Database]


def _ok(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, f"{what} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _serve(docker: sandbox.Docker, image: str, env_dir: Path, db: sandbox.Database | None,
           **extra: str | None) -> tuple[str, int]:
    port = sandbox.free_port()
    env_file = write_env_file(env_dir, app_env(db, PORT=str(port), **extra))
    name = docker.serve(image, env_file)
    sandbox.wait_listening(port, docker, name)
    return name, port


# --- migration steps -------------------------------------------------------------------


def test_steps_twice_are_idempotent(
    images: Images, docker: sandbox.Docker, make_db: MakeDb, env_dir: Path,
) -> None:
    db = make_db()
    env = app_env(db)
    env_file = write_env_file(env_dir, env)

    first = [_ok(docker.step(images["good"], env_file, step), " ".join(step)) for step in STEPS]
    assert "Applying tenants.0001_initial... OK" in first[0]
    assert "created public tenant" in first[1]
    assert "created superuser admin@example.test" in first[1]
    assert "standard:demo]" in first[2] and "Applying inventory.0002_item_unit... OK" in first[2]

    # Second run, env on stdin as slipway's migration runner sends it: nothing to do.
    env_text = sandbox.render_env(env)
    second = [_ok(docker.step_stdin(images["good"], env_text, step), " ".join(step)) for step in STEPS]
    assert "No migrations to apply." in second[0]
    assert not [line for line in second[1].splitlines() if line.startswith("created")]
    assert "exists: public tenant (schema public)" in second[1]
    assert "exists: tenant demo" in second[1] and "exists: superuser admin@example.test" in second[1]
    assert "No migrations to apply." in second[2]
    for out in first + second:
        assert "already exists" not in out
        assert env["SECRET_KEY"] not in out and db.password not in out

    # Tables: shared apps in public, tenant apps in the tenant's schema only.
    public = set(db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split())
    assert {"tenants_client", "tenants_domain", "auth_user", "django_migrations",
            "django_session", "django_admin_log"} <= public
    assert "inventory_item" not in public
    demo = set(db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'demo'").split())
    assert {"inventory_item", "django_migrations", "django_content_type"} <= demo
    assert "tenants_client" not in demo and "auth_user" not in demo
    columns = db.query("SELECT column_name FROM information_schema.columns "
                       "WHERE table_schema = 'demo' AND table_name = 'inventory_item'").split()
    assert "unit" in columns

    # The super tenant, its domain and the superuser exist exactly once.
    assert db.query("SELECT count(*) FROM public.tenants_client WHERE schema_name = 'public'") == "1"
    assert db.query("SELECT schema_name FROM public.tenants_client ORDER BY schema_name").split() == [
        "demo", "public"]
    assert db.query("SELECT d.domain FROM public.tenants_domain d JOIN public.tenants_client c "
                    "ON c.id = d.tenant_id WHERE c.schema_name = 'public'") == "localhost"
    assert db.query("SELECT count(*) FROM public.auth_user WHERE is_superuser") == "1"


def test_fake_initial_adopts_existing_tables(
    images: Images, docker: sandbox.Docker, make_db: MakeDb, env_dir: Path,
) -> None:
    """--fake-initial: tables already there but no migration history -> faked, not re-created."""
    db = make_db()
    env_file = write_env_file(env_dir, app_env(db))
    _ok(docker.step(images["good"], env_file, STEPS[0]), "shared migrate")
    db.query("DELETE FROM public.django_migrations WHERE app IN ('tenants', 'sessions')")
    out = _ok(docker.step(images["good"], env_file, STEPS[0]), "shared migrate --fake-initial again")
    assert "Applying tenants.0001_initial... FAKED" in out
    assert "already exists" not in out


# --- readiness ------------------------------------------------------------------------


def test_ready_200_with_sha(
    images: Images, docker: sandbox.Docker, migrated_db: sandbox.Database, env_dir: Path,
) -> None:
    sha = secrets.token_hex(20)
    name, port = _serve(docker, images["good"], env_dir, migrated_db, APP_SHA=sha)
    try:
        resp = sandbox.get(port, "/api/v1/ready/")
        assert resp.status == 200, resp.body
        body = resp.json()
        assert body["status"] == "ready" and body["sha"] == sha
        assert body["environment"] == "uat"  # DJANGO_SETTINGS_MODULE=config.settings.uat
        assert resp.headers["x-app-sha"] == sha
        # A tenant's domain routes to its schema, and carries the header too.
        items = sandbox.get(port, "/api/v1/items/", host="demo.localhost")
        assert items.status == 200 and items.json() == {"tenant": "demo", "items": []}
        assert items.headers["x-app-sha"] == sha
        # The admin lives on the public tenant's domain.
        assert sandbox.get(port, "/admin/login/", host="localhost").status == 200
    finally:
        docker.remove(name)


def test_ready_503_when_database_unreachable(images: Images, docker: sandbox.Docker, env_dir: Path) -> None:
    closed = sandbox.free_port()  # nothing listens there
    url = f"postgres://nobody:nothing@127.0.0.1:{closed}/nodb"
    name, port = _serve(docker, images["good"], env_dir, None, DATABASE_URL=url, APP_SHA="abc123")
    try:
        resp = sandbox.get(port, "/api/v1/ready/")
        assert resp.status == 503, resp.body
        assert resp.json()["status"] == "unavailable"
        assert resp.json()["sha"] == "abc123" and resp.headers["x-app-sha"] == "abc123"
    finally:
        docker.remove(name)


def test_ready_503_before_migrations(
    images: Images, docker: sandbox.Docker, make_db: MakeDb, env_dir: Path,
) -> None:
    name, port = _serve(docker, images["good"], env_dir, make_db(), APP_SHA="abc123")
    try:
        resp = sandbox.get(port, "/api/v1/ready/")
        assert resp.status == 503, resp.body
        assert resp.json()["status"] == "migrating"
    finally:
        docker.remove(name)


def test_default_cmd_serves(
    images: Images, docker: sandbox.Docker, migrated_db: sandbox.Database, env_dir: Path,
) -> None:
    """The image's own CMD (gunicorn, PORT from the env)."""
    port = sandbox.free_port()
    env_file = env_dir / "plain.env"
    env_file.touch(mode=0o600)
    # docker's --env-file takes raw NAME=value lines (no shell quoting).
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {
        "SECRET_KEY": secrets.token_urlsafe(32), "DATABASE_URL": migrated_db.url,
        "PORT": str(port), "APP_SHA": "cmdsha"}.items()))
    name = docker.serve(images["good"], env_file, argv=None)
    try:
        sandbox.wait_listening(port, docker, name)
        resp = sandbox.get(port, "/api/v1/ready/")
        assert resp.status == 200 and resp.json()["environment"] == "prod", resp.body
    finally:
        docker.remove(name)


# --- configuration errors ---------------------------------------------------------------


def test_refuses_to_start_without_secret_key(
    images: Images, docker: sandbox.Docker, migrated_db: sandbox.Database, env_dir: Path,
) -> None:
    port = sandbox.free_port()
    # The users' old mistake: DJANGO_SECRET_KEY where the app reads SECRET_KEY.
    env = app_env(migrated_db, PORT=str(port), SECRET_KEY=None, DJANGO_SECRET_KEY="set-under-the-wrong-name")
    env_file = write_env_file(env_dir, env)
    name = docker.serve(images["good"], env_file)
    try:
        code = docker.wait_exit(name, timeout=30)
        assert code not in (None, 0), "gunicorn kept running without SECRET_KEY"
        logs = docker.logs(name)
        assert "SECRET_KEY is not set; refusing to start." in logs
        assert "DJANGO_SECRET_KEY is set, but this app reads SECRET_KEY" in logs
        assert "set-under-the-wrong-name" not in logs
        assert not sandbox.port_open("127.0.0.1", port)
    finally:
        docker.remove(name)
    step = docker.step(images["good"], env_file, STEPS[0])
    assert step.returncode != 0 and "SECRET_KEY is not set" in step.stderr


# --- broken variants ------------------------------------------------------------------


def test_break_migration_fails_the_shared_step(
    images: Images, docker: sandbox.Docker, make_db: MakeDb, env_dir: Path,
) -> None:
    db = make_db()
    env_file = write_env_file(env_dir, app_env(db))
    for step in STEPS:  # a database the good image migrated
        _ok(docker.step(images["good"], env_file, step), " ".join(step))
    for _ in range(2):  # never recorded as applied: fails every time
        proc = docker.step(images["break_migration"], env_file, STEPS[0])
        assert proc.returncode != 0
        assert "migration broken on purpose" in proc.stderr
    assert db.query("SELECT count(*) FROM public.django_migrations WHERE app = 'breakage'") == "0"
    # The failed migration left the database as it was: the good image is still ready.
    name, port = _serve(docker, images["good"], env_dir, db)
    try:
        assert sandbox.get(port, "/api/v1/ready/").status == 200
    finally:
        docker.remove(name)


def test_break_migration_tenant_fails_the_tenant_step(
    images: Images, docker: sandbox.Docker, make_db: MakeDb, env_dir: Path,
) -> None:
    db = make_db()
    env_file = write_env_file(env_dir, app_env(db))
    image = images["break_migration_tenant"]
    _ok(docker.step(image, env_file, STEPS[0]), "shared step")
    _ok(docker.step(image, env_file, STEPS[1]), "create_super_tenant")
    proc = docker.step(image, env_file, STEPS[2])
    assert proc.returncode != 0
    assert "migration broken on purpose" in proc.stderr


def test_break_health_returns_503(
    images: Images, docker: sandbox.Docker, migrated_db: sandbox.Database, env_dir: Path,
) -> None:
    name, port = _serve(docker, images["break_health"], env_dir, migrated_db, APP_SHA="feed")
    try:
        resp = sandbox.get(port, "/api/v1/ready/")
        assert resp.status == 503, resp.body
        assert resp.json()["status"] == "broken"
        assert resp.headers["x-app-sha"] == "feed"
        # Only the probe is broken: the app itself serves.
        assert sandbox.get(port, "/api/v1/items/", host="demo.localhost").status == 200
    finally:
        docker.remove(name)


def test_break_flags_come_only_from_the_build(
    images: Images, docker: sandbox.Docker, migrated_db: sandbox.Database, env_dir: Path,
) -> None:
    """The good image ignores any BREAK_* in its runtime environment."""
    name, port = _serve(docker, images["good"], env_dir, migrated_db, BREAK_HEALTH="1", BREAK_MIGRATION="1")
    try:
        assert sandbox.get(port, "/api/v1/ready/").status == 200
    finally:
        docker.remove(name)
