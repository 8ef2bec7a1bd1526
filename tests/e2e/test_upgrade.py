"""A stack deployed by the previous slipway release takes this one in place: one `pulumi up`,
nothing running recreated, nothing built or migrated again, the app serving throughout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.workspace import REPO, Prober, Workspace, run, sandbox_env

pytestmark = [pytest.mark.e2e, pytest.mark.needs_providers]

# The last landed release before the server agent (deploys as one inline script).
PREVIOUS_RELEASE = "2e1e885"


def previous_release(into: Path) -> Path:
    has = run(["git", "-C", str(REPO), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"])
    if has.returncode != 0:
        pytest.skip(f"this clone lacks the previous release {PREVIOUS_RELEASE} (a shallow clone)")
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS_RELEASE], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / ".venv").symlink_to(REPO / ".venv")  # its policy pack's launcher looks for ../.venv
    return into


def changes(ws: Workspace) -> dict[str, str]:
    """Resource name -> what the last `up` did to it, for every resource it did not leave alone."""
    out = {}
    for event in ws.last_events:
        metadata = (event.get("resOutputsEvent") or {}).get("metadata") or {}
        op, urn = str(metadata.get("op", "")), str(metadata.get("urn", ""))
        if op and op != "same" and "pulumi:pulumi:Stack" not in urn:
            out[urn.rsplit("::", 1)[-1]] = op
    return out


def test_a_stack_of_the_previous_release_upgrades_without_recreating_anything(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, sandbox_env(), project=previous_release(tmp_path / "previous"))
    ws.setup()
    try:
        first = ws.up()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        services = sorted(ws.outputs()["images"])
        before = {name: ws.container(f"{ws.env_name}-{name}") for name in services}
        assert all(before.values()), before.keys()
        old_outputs = ws.outputs()

        ws.project = REPO
        with Prober(ws) as prober:
            upgraded = ws.up()
        assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr[-3000:]

        for name, container in before.items():
            after = ws.container(f"{ws.env_name}-{name}")
            assert container is not None and after is not None
            assert after["Id"] == container["Id"], f"{name} was recreated"
            assert after["State"]["StartedAt"] == container["State"]["StartedAt"], f"{name} restarted"
        # What the upgrade did: the agent is new, each deploy's command line changed (an update
        # that finds its release running); nothing else was touched.
        done = changes(ws)
        assert done.pop("app-server") == "create" and done.pop("app-server-install") == "create"
        for name in services:
            assert done.pop(f"app-{name}-deploy", "update") == "update"
        assert done == {}, done
        assert prober.failures == 0 and prober.probes > 0
        outputs = ws.outputs()
        assert outputs["deployedSha"] == old_outputs["deployedSha"]
        assert outputs["images"] == old_outputs["images"]
    finally:
        ws.project = REPO
        ws.destroy()
        shutil.rmtree(tmp_path / "previous", ignore_errors=True)
