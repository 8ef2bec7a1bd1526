"""A stack deployed by the previous slipway release takes this one in place: one `pulumi up`
moves the running release behind the proxy, with nothing built or migrated again, no resource
but the new ones created, and an outage no longer than the previous release's own restarts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.traffic import Traffic
from tests.e2e.workspace import REPO, Workspace, changes, release_checkout, sandbox_env

pytestmark = [pytest.mark.e2e, pytest.mark.needs_providers]

# The last landed release before the server agent and the proxy (one container per service on
# the service's port, stopped and started by one inline script).
PREVIOUS_RELEASE = "2e1e885"
# What a release of that one dropped at 10 Hz, every time (README figures, `make bench`): the
# move behind the proxy may not be worse.
PREVIOUS_OUTAGE_PROBES = 12


def test_a_stack_of_the_previous_release_moves_behind_the_proxy_in_one_up(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, sandbox_env(), project=release_checkout(PREVIOUS_RELEASE, tmp_path / "previous"))
    ws.setup()
    try:
        # The previous release's config: the app on the service's port, no frontend (its layout
        # had no PORT of its own for the example frontend), and an image that runs as root (it
        # could not deploy any other).
        # It listens on the service's port through its command (an env change would re-run the
        # migration, whose env is the service's).
        command = ["gunicorn", "--config", "/app/gunicorn.conf.py", "config.wsgi", "--bind"]
        # (It has no migration.runner either: the steps run as they ran then.)
        ws.update_config(**{"services.frontend": None, "migration.runner": None,
                            "services.backend.command": [*command, f"127.0.0.1:{ws.port}"],
                            "services.backend.buildArgs": {"APP_USER": "root"}})
        first = ws.up()
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        legacy = ws.container(f"{ws.env_name}-backend")
        assert legacy is not None and legacy["State"]["Running"]
        old_outputs = ws.outputs()

        ws.project = REPO
        ws.update_config(**{"services.backend.command": [*command, "127.0.0.1:{port}"]})
        with Traffic(ws.url, clients=0) as prober:  # the 10 Hz prober alone, as the figure was taken
            upgraded = ws.up()
        assert upgraded.returncode == 0, upgraded.stdout[-3000:] + upgraded.stderr[-3000:]
        assert prober.failures <= PREVIOUS_OUTAGE_PROBES, prober.summary()

        # The same image now serves behind the proxy on the same port; the old container is gone.
        live = ws.container()
        assert live is not None and live["Config"]["Image"] == legacy["Config"]["Image"]
        assert ws.gone(f"{ws.env_name}-backend")
        assert ws.container(f"{ws.env_name}-backend-proxy") is not None
        assert ws.ready()[1].get("X-App-Sha") == old_outputs["deployedSha"]
        # What the upgrade did: the agent and the proxy config are new, the deploy's command line
        # changed (an update); nothing else was touched: no build, no migration, no database.
        done = changes(ws)
        assert done.pop("app-server") == "create" and done.pop("app-server-install") == "create"
        assert done.pop("app-backend-proxy") == "create"
        assert done.pop("app-backend-deploy") == "update"
        # New with this release: the deploy's stage (it found the release serving; did nothing).
        assert done.pop("app-backend-stage") == "create"
        assert done == {}, done
        outputs = ws.outputs()
        assert outputs["deployedSha"] == old_outputs["deployedSha"]
        assert outputs["images"] == old_outputs["images"]
    finally:
        ws.project = REPO
        ws.destroy()
        shutil.rmtree(tmp_path / "previous", ignore_errors=True)
