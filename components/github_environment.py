"""The repository's GitHub environment (e.g. `prod-backend`) with its secrets and variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_github as github

from components.outputs import secret
from slipway.config import GitHubConfig


@dataclass(frozen=True)
class GitHubEnvironmentArgs:
    config: GitHubConfig
    # Name -> value (secret) for every name in config.secrets, and any slipway publishes itself
    # (SLIPWAY_ROLLBACK_KEY).
    secret_values: Mapping[str, pulumi.Input[str]]


class GitHubEnvironment(pulumi.ComponentResource):
    """Outputs the environment name and the (names of) secrets and variables it holds."""

    environment: pulumi.Output[str]
    secret_names: list[str]

    def __init__(self, name: str, args: GitHubEnvironmentArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:index:GitHubEnvironment", name, None, opts)
        cfg = args.config
        provider = github.Provider(
            f"{name}-github",
            owner=cfg.owner,
            base_url=cfg.base_url,
            token=secret(cfg.token.reveal()) if cfg.token else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        reviewers = (
            [github.RepositoryEnvironmentReviewerArgs(users=list(cfg.reviewers.users),
                                                      teams=list(cfg.reviewers.teams))]
            if cfg.reviewers.users or cfg.reviewers.teams else []
        )
        policy = cfg.branch_policy
        branch_policy = (
            github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                protected_branches=policy.protected_branches,
                custom_branch_policies=bool(policy.custom_branches),
            )
            if policy.protected_branches or policy.custom_branches else None
        )
        env = github.RepositoryEnvironment(
            f"{name}-environment",
            repository=cfg.repository,
            environment=cfg.environment,
            reviewers=reviewers,
            deployment_branch_policy=branch_policy,
            prevent_self_review=bool(reviewers),
            can_admins_bypass=False,
            opts=child,
        )
        in_env = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[env])
        for index, branch in enumerate(policy.custom_branches):
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{name}-branch-{index + 1}", repository=cfg.repository,
                environment=env.environment, branch_pattern=branch, opts=in_env,
            )
        for secret_name in args.secret_values:
            github.ActionsEnvironmentSecret(
                f"{name}-secret-{secret_name}",
                repository=cfg.repository,
                environment=env.environment,
                secret_name=secret_name,
                value=secret(args.secret_values[secret_name]),
                opts=in_env,
            )
        for variable_name, value in sorted(cfg.variables.items()):
            github.ActionsEnvironmentVariable(
                f"{name}-variable-{variable_name}",
                repository=cfg.repository,
                environment=env.environment,
                variable_name=variable_name,
                value=value,
                opts=in_env,
            )
        self.environment = env.environment
        self.secret_names = list(args.secret_values)
        self.register_outputs(
            {"environment": self.environment, "secret_names": self.secret_names,
             "variable_names": sorted(cfg.variables)}
        )
