"""The pulumi-policy objects: slipway's rules as mandatory resource and stack policies."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy import rules
from policy.values import install_secret_marking, plain

PACK_NAME = "slipway"

IMAGES_PINNED = "slipway-images-pinned"
DEPLOY_AFTER_MIGRATION = "slipway-deploy-after-migration"
PROD_REVIEWERS = "slipway-prod-environment-reviewers"
COMMAND_SECRET_INPUTS = "slipway-command-secret-inputs"  # noqa: S105 (a policy name)
COMMAND_LINE_SECRETS = "slipway-command-line-secrets"
KNOWN_SECRETS_IN_COMMANDS = "slipway-known-secrets-in-commands"
POLICY_NAMES = (IMAGES_PINNED, DEPLOY_AFTER_MIGRATION, PROD_REVIEWERS, COMMAND_SECRET_INPUTS,
                COMMAND_LINE_SECRETS, KNOWN_SECRETS_IN_COMMANDS)

MANDATORY = EnforcementLevel.MANDATORY


def stack_context() -> tuple[str | None, str | None]:
    """(stack name, `slipway:environment`) from what the engine gives the analyzer."""
    stack = os.environ.get("PULUMI_STACK") or None
    environment = None
    try:
        config = json.loads(os.environ.get("PULUMI_CONFIG") or "{}")
    except ValueError:
        config = {}
    if isinstance(config, dict):
        value = config.get("slipway:environment")
        environment = value if isinstance(value, str) else None
    return stack, environment


ResourceCheck = Callable[[str, str, Mapping[str, Any]], list[str]]


def resource_validation(check: ResourceCheck) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.name, plain(args.props)):
            report_violation(message, None)
    return validate


def check_prod_reviewers(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    stack, environment = stack_context()
    return rules.check_prod_reviewers(resource_type, name, props, stack=stack, environment=environment)


def stack_resources(args: StackValidationArgs) -> list[rules.StackResource]:
    def urns(deps: list[PolicyResource]) -> set[str]:
        return {d.urn for d in deps}

    return [
        rules.StackResource(
            urn=r.urn, resource_type=r.resource_type, name=r.name, props=plain(r.props),
            dependencies=urns(r.dependencies),
            property_dependencies={k: urns(v) for k, v in r.property_dependencies.items()},
        )
        for r in args.resources
    ]


StackCheck = Callable[[list[rules.StackResource]], list[tuple[str, str]]]


def stack_validation(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for urn, message in check(stack_resources(args)):
            report_violation(message, urn)
    return validate


def policies() -> list[Policy]:
    return [
        ResourceValidationPolicy(
            name=IMAGES_PINNED,
            description="Containers and migrations run only immutable images pinned by digest "
                        "(`<repo>:<env>-<sha>@sha256:...`), never a mutable tag such as latest.",
            enforcement_level=MANDATORY,
            validate=resource_validation(rules.check_images),
        ),
        StackValidationPolicy(
            name=DEPLOY_AFTER_MIGRATION,
            description="Every deploy command depends on the migration, so it cannot start before "
                        "the database is migrated.",
            enforcement_level=MANDATORY,
            validate=stack_validation(rules.check_deploys_depend_on_migration),
        ),
        ResourceValidationPolicy(
            name=PROD_REVIEWERS,
            description="A production GitHub environment requires reviewers.",
            enforcement_level=MANDATORY,
            validate=resource_validation(check_prod_reviewers),
        ),
        ResourceValidationPolicy(
            name=COMMAND_SECRET_INPUTS,
            description="Secrets reach commands only as secrets: stdin, connection keys and "
                        "passwords, and secret-looking environment values are marked secret.",
            enforcement_level=MANDATORY,
            validate=resource_validation(rules.check_command_secret_inputs),
        ),
        ResourceValidationPolicy(
            name=COMMAND_LINE_SECRETS,
            description="No secret in a command's create/update/delete line (private keys, "
                        "URLs with passwords, tokens, the command's own secret inputs).",
            enforcement_level=MANDATORY,
            validate=resource_validation(rules.check_command_lines),
        ),
        StackValidationPolicy(
            name=KNOWN_SECRETS_IN_COMMANDS,
            description="No secret held anywhere in the stack appears in plain text in a command "
                        "line or a plain environment value.",
            enforcement_level=MANDATORY,
            validate=stack_validation(rules.check_known_secrets_in_commands),
        ),
    ]


def serve() -> None:
    """Start the analyzer (blocks; run by the engine through policy/__main__.py)."""
    install_secret_marking()
    PolicyPack(name=PACK_NAME, policies=policies(), enforcement_level=MANDATORY)
