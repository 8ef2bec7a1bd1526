"""Fixtures: the example app's images (good and broken), throwaway Postgres databases,
containers on the host network, all removed afterwards.

The tests need a docker engine and PostgreSQL on 127.0.0.1:5432 (started here if
installed but stopped). Without them they are skipped, unless SLIPWAY_REQUIRE_SANDBOX=1
(or CI=true), where a missing sandbox is an error.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.example_app import sandbox


def _required() -> bool:
    return os.environ.get("SLIPWAY_REQUIRE_SANDBOX") == "1" or os.environ.get("CI") == "true"


def _need(check: Callable[[], None]) -> None:
    try:
        check()
    except sandbox.SandboxMissing as exc:
        if _required():
            pytest.fail(f"sandbox missing: {exc}")
        pytest.skip(f"sandbox missing: {exc}")


@pytest.fixture(scope="session")
def docker() -> Iterator[sandbox.Docker]:
    _need(sandbox.docker_available)
    client = sandbox.Docker(label=f"example_app-{secrets.token_hex(4)}")
    yield client
    client.remove_all()


@pytest.fixture(scope="session")
def images(docker: sandbox.Docker) -> Iterator[dict[str, str]]:
    """Tags of the good image and of each broken variant."""
    sandbox.ensure_base_image()
    run_id = docker.label.rsplit("-", 1)[1]
    variants = {
        "good": {},
        "break_migration": {"BREAK_MIGRATION": "1"},
        "break_migration_tenant": {"BREAK_MIGRATION": "tenant"},
        "break_health": {"BREAK_HEALTH": "1"},
    }
    tags = {name: f"slipway-example-test:{run_id}-{name.replace('_', '-')}" for name in variants}
    try:
        for name, args in variants.items():
            sandbox.build_app_image(tags[name], **args)
        yield tags
    finally:
        docker.remove_all()
        sandbox.run(["docker", "rmi", "--force", *tags.values()], timeout=120)


@pytest.fixture(scope="session")
def postgres() -> None:
    _need(sandbox.postgres_available)


@pytest.fixture
def make_db(postgres: None) -> Iterator[Callable[[], sandbox.Database]]:
    created: list[sandbox.Database] = []

    def make() -> sandbox.Database:
        db = sandbox.create_database()
        created.append(db)
        return db

    yield make
    for db in created:
        sandbox.drop_database(db)


@pytest.fixture(scope="module")
def migrated_db(postgres: None, images: dict[str, str], docker: sandbox.Docker,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[sandbox.Database]:
    """A database on which the good image's three steps have run once."""
    db = sandbox.create_database()
    try:
        env_file = sandbox.write_env_file(tmp_path_factory.mktemp("env"), sandbox.app_env(db))
        for step in sandbox.STEPS:
            proc = docker.step(images["good"], env_file, step)
            assert proc.returncode == 0, f"{step} failed:\n{proc.stdout}\n{proc.stderr}"
        yield db
    finally:
        sandbox.drop_database(db)


@pytest.fixture
def env_dir(tmp_path: Path) -> Path:
    path = tmp_path / "env"
    path.mkdir(mode=0o700)
    return path
