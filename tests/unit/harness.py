"""Runs the real slipway program under Pulumi mocks and records every registration.

Fast logic checks only: the graph, the inputs each resource gets, which inputs are secret,
and who depends on whom. Behaviour is proven end to end against real services elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

from components.pipeline import Pipeline
from slipway.stack import load_stack_config
from tests.unit.stackfiles import FakeGit

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """A wire value with its secret wrapping taken off (for asserting what a secret holds)."""
    return value.get("value") if is_secret(value) else value


def without_secrets(value: Any) -> Any:
    """The wire form with every secret-wrapped value cut out (what may be shown in plain)."""
    if is_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def fake_digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


@dataclass
class Registration:
    typ: str
    name: str
    urn: str
    parent: str
    inputs: dict[str, Any]
    raw: dict[str, Any]  # the wire form: secrets still wrapped
    dependencies: list[str]
    aliases: list[str]  # the names this resource had before (its aliases' names)
    ignore_changes: list[str] = field(default_factory=list)

    def secret_fields(self) -> set[str]:
        return {k for k, v in self.raw.items() if is_secret(v)}


@dataclass
class FakeCloud(Mocks):
    """Answers like the providers would: digests for pushes, the runner's output lines."""

    missing_tags: set[str] = field(default_factory=set)
    pushed_tags: set[str] = field(default_factory=set)  # `<repository>:<tag>` already in the registry
    migration_reports: str | None = None  # override what the migration says it migrated
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        state = dict(args.inputs)
        if args.typ == "docker:index/image:Image":
            name = args.inputs["imageName"]
            state["repoDigest"] = f"{name.rsplit(':', 1)[0]}@{fake_digest(name)}"
        elif args.typ == "docker:index/registryImage:RegistryImage":
            state["sha256Digest"] = args.inputs["triggers"]["digest"].rsplit("@", 1)[1]
        elif args.typ == "command:local:Command":
            plan = args.inputs.get("environment", {}).get("SLIPWAY_MIGRATION_PLAN")
            if plan:
                image = self.migration_reports or json.loads(plan)["image"]
                state["stdout"] = f"slipway: 3 migration steps done\nmigrated-image={image}"
            else:
                state["stdout"] = "generated-password-value"
        elif args.typ == "command:remote:Command":
            state["stdout"] = json.dumps({"previous_sha": "0" * 40})
        return f"{args.name}-id", state

    def tag_in_registry(self, registry: Any, repository: str, tag: str) -> bool:
        """The program's question to the registry (slipway.pushed_tags), answered offline."""
        return f"{repository}:{tag}" in self.pushed_tags

    def call(self, args: MockCallArgs) -> Any:
        self.invokes.append((args.token, dict(args.args)))
        if args.token == "docker:index/getRegistryImage:getRegistryImage":
            name = args.args["name"]
            if name in self.missing_tags:
                raise Exception(f"Got error getting registry image digest: {name} not found")
            return {"name": name, "sha256Digest": fake_digest(name)}
        return {}


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(Registration(
                typ=request.type, name=request.name, urn=response.urn, parent=request.parent,
                inputs=self.resources[response.urn].state if response.urn in self.resources
                else {}, raw=json_format.MessageToDict(request.object),
                dependencies=list(request.dependencies),
                aliases=[a.spec.name for a in request.aliases if a.HasField("spec")],
                ignore_changes=list(request.ignoreChanges),
            ))
        return response


@dataclass
class Run:
    registrations: list[Registration]
    cloud: FakeCloud
    pipeline: Pipeline

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.typ == typ]

    def named(self, name: str) -> Registration:
        return next(r for r in self.registrations if r.name == name)

    def graph(self) -> list[tuple[str, str]]:
        return sorted((r.typ, r.name) for r in self.registrations)


def run_program(stack: str, raw: dict[str, str], secret_keys: set[str], project: Path,
                git: FakeGit | None = None, cloud: FakeCloud | None = None) -> Run:
    cloud = cloud or FakeCloud()
    monitor = RecordingMonitor(cloud)
    pulumi.runtime.set_mocks(cloud, project="slipway", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(raw, sorted(secret_keys))
    built: list[Pipeline] = []

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        cfg = load_stack_config(project, git or FakeGit())
        pipeline = Pipeline("app", cfg, pushed=cloud.tag_in_registry)
        built.append(pipeline)

        async def declared() -> list[Any]:
            # As the program's entrypoint does: the builds, then the rest of the release.
            await pipeline.declare_release()
            return await pulumi.Output.all(
                *[s.previous_sha for s in pipeline.services.values()],
                *[i.latest_ref for i in pipeline.images.values()],
                pipeline.github.environment,
            ).future() or []

        return pulumi.Output.from_input(declared())

    program()
    return Run(monitor.registrations, cloud, built[0])
