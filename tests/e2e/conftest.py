"""The end-to-end tests need every provider plugin in the toolchain. Where the Go module proxy
refused to serve a provider's module (toolchain/README.md), they are skipped with that exact
reason instead of failing the whole suite for something no code change here can fix."""

from __future__ import annotations

import pytest

from tests.toolchain.toolchain import bin_dir, unavailable_note

PLUGINS = ("pulumi-resource-command", "pulumi-resource-docker", "pulumi-resource-github",
           "pulumi-resource-postgresql")


def missing_plugins() -> list[str]:
    path = bin_dir()
    missing = []
    for plugin in PLUGINS:
        if not (path / plugin).is_file():
            note = unavailable_note(path, plugin)
            module = note.splitlines()[0].removeprefix("module: ") if note else ""
            missing.append(f"{plugin} (the Go module proxy refused {module})" if module
                           else f"{plugin} (not built: run `make toolchain`)")
    return missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_plugins()
    if not missing:
        return
    reason = "provider plugins missing from the toolchain: " + "; ".join(missing)
    for item in items:
        if "tests/e2e/" in str(item.fspath) and "needs_providers" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))
