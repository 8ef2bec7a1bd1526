"""The migration plan and the docker invocation of each step."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from slipway.commands import docker


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

    @property
    def container_prefix(self) -> str:
        return f"slipway-migrate-{self.environment}"

    def container(self, index: int) -> str:
        return f"{self.container_prefix}-{index + 1}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MigrationPlan:
        data = json.loads(text)
        data["steps"] = tuple(tuple(step) for step in data["steps"])
        data["secret_names"] = tuple(data.get("secret_names", ()))
        return cls(**data)


def step_args(plan: MigrationPlan, index: int) -> list[str]:
    """`docker run --rm -i` of step `index` inside the release image; the env comes on stdin."""
    if "@sha256:" not in plan.image:
        raise ValueError(f"refusing to migrate with {plan.image!r}: not pinned by digest")
    return docker.run(
        name=plan.container(index),
        image=plan.image,
        command=plan.steps[index],
        env_file=None,
        network=plan.network,
        env={"APP_SHA": plan.sha},
        labels={"slipway.env": plan.environment, "slipway.sha": plan.sha,
                "slipway.role": "migration"},
        remove=True,
    )


def describe(step: Sequence[str]) -> str:
    return " ".join(step)
