"""The migration plan and the docker invocation of each step."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slipway.commands import docker
from slipway.commands.backup import BackupPlan


@dataclass(frozen=True)
class MigrationPlan:
    """What the migration runner does; holds no secret (those arrive on stdin)."""

    environment: str
    sha: str
    image: str  # repository:tag@sha256:...
    steps: tuple[tuple[str, ...], ...]
    timeout_seconds: int
    network: str
    # Names in the env whose values are secret: masked in every line of output.
    secret_names: tuple[str, ...] = ()
    # Taken before the first step; None: no backup.
    backup: BackupPlan | None = None
    # Why no step runs (e.g. "rollback"); None: the steps run.
    skip: str | None = None
    # "processes": each step a process of its own; "django": one Django setup, a fork per step.
    runner: str = "processes"

    @property
    def container(self) -> str:
        """One container runs every step of the release, in order."""
        return f"slipway-migrate-{self.environment}"

    def to_json(self) -> str:
        # Unset options are left out: a stack that uses none of them keeps the plan (and so the
        # migration command) it had before they existed.
        data: dict[str, Any] = {k: v for k, v in asdict(self).items()
                                if not (k in ("backup", "skip") and v is None)
                                and not (k == "runner" and v == "processes")}
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MigrationPlan:
        data = json.loads(text)
        data["steps"] = tuple(tuple(step) for step in data["steps"])
        data["secret_names"] = tuple(data.get("secret_names", ()))
        if data.get("backup") is not None:
            data["backup"] = BackupPlan(**data["backup"])
        return cls(**data)


STEP_MARK = "@@slipway-step@@"  # printed by the container before each step: "<mark> <i>/<n>"
FAILED_MARK = "@@slipway-step-failed@@"  # after a failing step: "<mark> <i> <exit code>"

# Runs in the release image after the env loader: each argument is one step, shlex-quoted, so
# `eval` rebuilds exactly its argument list (nothing else is re-parsed). Stops at the first
# failing step with that step's exit code.
STEPS_SCRIPT = (
    'n=$#; i=0; for step in "$@"; do i=$((i + 1)); '
    f"printf '%s %s/%s\\n' '{STEP_MARK}' \"$i\" \"$n\"; "
    f'eval "$step" || {{ rc=$?; printf \'%s %s %s\\n\' \'{FAILED_MARK}\' "$i" "$rc"; exit "$rc"; }}; '
    "done"
)


# `runner: django`: this text is the program the image's Python runs (python -c).
DJANGO_STEPS = (Path(__file__).parent.parent / "runners" / "django_steps.py").read_text()


def django_steps_command(steps: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """`<python> -c <slipway.runners.django_steps> <manage.py> <step as JSON> ...`: every step is
    `<python> <manage.py> <command> ...` with the same two (slipway.config checks it)."""
    python, manage = steps[0][0], steps[0][1]
    return (python, "-c", DJANGO_STEPS, manage, *(json.dumps(list(step[2:])) for step in steps))


def steps_args(plan: MigrationPlan) -> list[str]:
    """`docker run --rm -i` of every step inside the release image, one container for all (one
    start, not one per step); the env comes on stdin."""
    if "@sha256:" not in plan.image:
        raise ValueError(f"refusing to migrate with {plan.image!r}: not pinned by digest")
    command = (django_steps_command(plan.steps) if plan.runner == "django" else
               ("/bin/sh", "-c", STEPS_SCRIPT, "slipway-steps", *(shlex.join(s) for s in plan.steps)))
    return docker.run(
        name=plan.container,
        image=plan.image,
        command=command,
        env_file=None,
        network=plan.network,
        env={"APP_SHA": plan.sha},
        labels={"slipway.env": plan.environment, "slipway.sha": plan.sha,
                "slipway.role": "migration"},
        remove=True,
    )


def describe(step: Sequence[str]) -> str:
    return " ".join(step)
