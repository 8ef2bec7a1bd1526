"""The release image: built once from the checkout, or looked up when a rollback pins a SHA."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.outputs import secret
from slipway.config import RegistryConfig, Release, ServiceConfig


@dataclass(frozen=True)
class ImageArgs:
    service: ServiceConfig
    registry: RegistryConfig
    environment: str
    release: Release
    context_path: str
    provider: docker.Provider
    pushed_before: bool = False  # `<env>-<sha>` is in the registry already: an earlier up built it


# BuildKit, not the classic builder: through the engine API (as pulumi-docker builds) the classic
# builder keeps every step's intermediate container (the provider does not ask it to remove them),
# so each release left about eight on the build host and every later build listed them all; and
# BuildKit runs RUN steps without committing a container for each.
BUILDER = docker.BuilderVersion.BUILDER_BUILD_KIT


def kept_build_settings(pushed_before: bool) -> list[str]:
    """What a build already in the registry keeps from its own `up`: the builder, which slipway
    releases before BuildKit set to the classic one. A stack of such a release is not rebuilt
    (a new digest for the same tag, a redeploy of the same SHA) only because the builder changed;
    its next SHA is built with BuildKit."""
    return ["build.builderVersion"] if pushed_before else []


def registry_host(server: str) -> str:
    """`registry.digitalocean.com/team` -> `registry.digitalocean.com` (where we log in)."""
    return server.split("/", 1)[0]


def repository_name(registry: RegistryConfig, service: ServiceConfig) -> str:
    return f"{registry.server}/{service.repository}"


def pin_by_digest(tagged: str, digest: str) -> str:
    """`repo:tag` + `sha256:...` -> `repo:tag@sha256:...`; refuses anything not a digest."""
    if not digest.startswith("sha256:") or len(digest) != 71:
        raise ValueError(f"{tagged}: the registry returned {digest!r}, not a sha256 digest")
    return f"{tagged}@{digest}"


def digest_of(repo_digest: str) -> str:
    """`repo@sha256:...` -> `sha256:...`."""
    return repo_digest.rsplit("@", 1)[1]


class Image(pulumi.ComponentResource):
    """`<registry>/<repo>:<env>-<sha>` pinned by digest, and `<env>-latest` moved onto it."""

    sha_ref: pulumi.Output[str]
    latest_ref: pulumi.Output[str]
    digest: pulumi.Output[str]

    def __init__(self, name: str, args: ImageArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:Image", name, None, opts)
        repo = repository_name(args.registry, args.service)
        sha_tag = f"{repo}:{args.environment}-{args.release.sha}"
        latest_tag = f"{repo}:{args.environment}-latest"
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        if args.release.mode == "build":
            registry = docker.RegistryArgs(
                server=registry_host(args.registry.server),
                username=args.registry.username,
                password=secret(args.registry.password.reveal())
                if args.registry.password else None,
            )
            image = docker.Image(
                f"{name}-build",
                image_name=sha_tag,
                build=docker.DockerBuildArgs(
                    context=args.context_path,
                    dockerfile=f"{args.context_path}/{args.service.dockerfile}",
                    # RUN steps reach package mirrors from the host's network.
                    network="host",
                    builder_version=BUILDER,
                    args={**args.service.build_args, "APP_SHA": args.release.sha},
                ),
                registry=registry,
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                    ignore_changes=kept_build_settings(args.pushed_before))),
            )
            self.digest = image.repo_digest.apply(digest_of)
            # The mutable tag is the same image pushed under a second name: no rebuild.
            tag = docker.Tag(
                f"{name}-latest-tag", source_image=image.image_name, target_image=latest_tag,
                tag_triggers=[image.repo_digest], opts=child,
            )
            latest = docker.RegistryImage(
                f"{name}-latest", name=tag.target_image, keep_remotely=True,
                triggers={"digest": image.repo_digest}, opts=child,
            )
            self.latest_ref = pulumi.Output.all(latest.name, latest.sha256_digest).apply(
                lambda parts: pin_by_digest(parts[0], parts[1])
            )
        else:
            # A rollback pin: the image for that SHA must already exist. Building it now would
            # tag today's code with yesterday's SHA, so it is looked up, and a missing tag
            # fails the preview.
            found = docker.get_registry_image_output(
                name=sha_tag, opts=pulumi.InvokeOutputOptions(parent=self, provider=args.provider)
            )
            self.digest = found.sha256_digest
            self.latest_ref = pulumi.Output.from_input(latest_tag)

        self.sha_ref = self.digest.apply(lambda d: pin_by_digest(sha_tag, d))
        self.register_outputs(
            {"sha_ref": self.sha_ref, "latest_ref": self.latest_ref, "digest": self.digest}
        )
