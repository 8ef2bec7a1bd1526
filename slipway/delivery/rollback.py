"""Roll a stack back to an earlier release: `slipway rollback`.

    python -m slipway.delivery.rollback --stack prod [--to SHA] [--yes | --preview-only]
                                        [--config-file FILE] [--cwd DIR]

1. Finds the target: `--to`, else the stack's `replacedSha` output, else its update history
   (see slipway.delivery.rollback_target).
2. Checks that `<registry>/<repository>:<env>-<sha>` exists for every service (registry API v2,
   with the stack's registry credentials when it has any). A missing tag refuses the rollback
   and nothing is changed.
3. Pins it: `slipway:sha: <sha>` in the stack's config file, one line edited and the file replaced
   atomically (slipway.delivery.stack_file), or `pulumi config set` when the file is not a plain
   one; `pulumi config get` checks, after step 4, that Pulumi reads the edited pin.
4. Switches every server back to its retained release of that SHA, outside the engine, all at
   once (slipway.delivery.switch_back): the release the running one replaced is still there,
   running (drain, standby) or stopped, so this is a switch or a start, health-gated as a deploy.
   A server without it is left to the next step. --engine-only skips this.
5. Runs `pulumi up` (nothing is built, no migration step runs unless slipway:migration.onRollback
   is `run`): it records the rollback in the stack, and deploys the release wherever step 4 did
   not switch. Then it puts the previous value of `slipway:sha` back: the rollback lasts until
   the next release, the same from a laptop as from the rollback workflow's throwaway runner.
   --hold keeps the pin in the config file (commit it so CI keeps it too). If this `up` fails
   after servers were switched back, the pin is kept either way (so that no later `up` leaves
   them running a release the stack does not know). With --preview-only it pins, shows `pulumi
   preview --diff` and puts the previous value back.

Exit codes: 0 done, 1 a command failed, 2 bad usage, 3 refused (nothing changed).
Run it where `pulumi` is on PATH (`source scripts/env.sh`). No secret is ever printed: the
registry password is read with `pulumi config get` into memory and sent only to the registry.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.actor import current_actor
from slipway.delivery.history import SHA_KEY, deployed_shas, release_message
from slipway.delivery.pulumi_cli import PulumiCli, PulumiError
from slipway.delivery.registry import Credentials, ImageRef, Registry, RegistryError
from slipway.delivery.remote import Server
from slipway.delivery.rollback_target import (
    Refusal,
    choose_target,
    expand_prefix,
    image_refs,
)
from slipway.delivery.servers import StackServer
from slipway.delivery.switch_back import (
    NOT_RETAINED,
    SWITCHED,
    DeployKeys,
    Outcome,
    RollbackKeyConnections,
    once,
    placements,
    switch_back,
)
from slipway.rollback_key import ENV_VAR as ROLLBACK_KEY_ENV
from slipway.secret import Secret
from slipway.state_settings import state_refusal

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
FULL_SHA = re.compile(r"[0-9a-f]{40}")


def registry_for(cli: PulumiCli, host: str, username: str | None) -> Registry:
    if not username:
        return Registry(host)
    password = cli.secret("slipway:registryPassword")
    if password is None:
        raise Refusal("slipway:registry.username is set but slipway:registryPassword is not")
    return Registry(host, Credentials(username, password))


def missing_images(refs: dict[str, ImageRef], registry: Registry) -> list[ImageRef]:
    """The images not in the registry, every service's asked at once."""
    with ThreadPoolExecutor(max_workers=max(1, len(refs))) as pool:
        found = list(pool.map(lambda ref: registry.tag_exists(ref.repository, ref.tag), refs.values()))
    return [ref for ref, exists in zip(refs.values(), found, strict=True) if not exists]


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


@dataclass(frozen=True)
class Checked:
    """A rollback that passed every check; nothing has been changed yet."""

    sha: str
    current: str | None
    source: str
    refs: dict[str, ImageRef]
    previous_pin: str | None
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)  # plain values only


# What the rollback reads of the stack's config (the checks, the pin, the switch-back).
ROLLBACK_CONFIG_KEYS = ("slipway:environment", "slipway:registry", "slipway:services", "slipway:server",
                        "slipway:servers", SHA_KEY)


def stack_config(cli: PulumiCli) -> dict[str, Any]:
    """The config values the rollback reads: from the stack's file itself where that is certain
    to be what Pulumi reads (no CLI start), else `pulumi config`."""
    values = cli.config_from_file(ROLLBACK_CONFIG_KEYS)
    return values if values is not None else cli.config()


def stack_outputs(cli: PulumiCli) -> dict[str, Any]:
    """The stack's outputs: from a file backend's state file where that is certain to be what the
    CLI reads (no CLI start), else `pulumi stack output`."""
    outputs = cli.outputs_from_file()
    return outputs if outputs is not None else cli.outputs()


def registry_of(cli: PulumiCli, config: Mapping[str, Any], sha: str) -> Registry:
    registry_cfg = config.get("slipway:registry")
    username = registry_cfg.get("username") if isinstance(registry_cfg, dict) else None
    first = next(iter(image_refs(config, sha).values()))
    return registry_for(cli, first.host, username if isinstance(username, str) else None)


def images_of(cli: PulumiCli, config: Mapping[str, Any], sha: str
              ) -> tuple[dict[str, ImageRef], list[ImageRef]]:
    """Every service's `<env>-<sha>` image, and those of them the registry does not have."""
    refs = image_refs(config, sha)
    return refs, missing_images(refs, registry_of(cli, config, sha))


def check(args: argparse.Namespace, cli: PulumiCli) -> Checked:
    """Everything that can refuse, before anything is changed. The stack's outputs are read
    while its config is, and, when --to names a whole SHA, while the registry is asked for its
    images."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs_read = pool.submit(stack_outputs, cli)
        config = stack_config(cli)
        asked = (pool.submit(images_of, cli, config, args.to)
                 if args.to and FULL_SHA.fullmatch(args.to) else None)
        outputs = outputs_read.result()
    history: list[str] = []
    if args.to is None and not outputs.get("replacedSha"):
        history = deployed_shas(cli.history())
    target = choose_target(args.to, outputs, history)

    sha = target.sha
    if len(sha) < 40:
        environment = str(config.get("slipway:environment"))
        first = next(iter(image_refs(config, sha).values()))
        sha = expand_prefix(sha, environment, registry_of(cli, config, sha).tags(first.repository))
    current = outputs.get("deployedSha")
    current = current if isinstance(current, str) and current else None
    if sha == current:
        raise Refusal(f"the stack already runs {sha}; nothing to roll back.")
    refs, missing = asked.result() if asked is not None and sha == args.to else images_of(cli, config, sha)
    if missing:
        raise Refusal(
            f"cannot roll {cli.stack} back to {sha}: its image is no longer in the registry:\n"
            + "\n".join(f"  - {ref}" for ref in missing)
            + "\nslipway never rebuilds an old SHA (today's code would carry yesterday's tag).")
    pin = config.get(SHA_KEY)
    return Checked(sha=sha, current=current, source=target.source, refs=refs,
                   previous_pin=pin if isinstance(pin, str) and pin else None, config=config)


def preview(cli: PulumiCli, checked: Checked) -> int:
    """Pin, preview, and put the previous `slipway:sha` back, whatever happens."""
    cli.set_config(SHA_KEY, checked.sha)
    try:
        code = cli.preview()
    finally:
        restore_pin(cli, checked)
    print("preview only: the stack and its config are as they were" if code == 0
          else "the preview failed; the stack and its config are as they were")
    return EXIT_OK if code == 0 else EXIT_FAILED


def restore_pin(cli: PulumiCli, checked: Checked) -> None:
    if checked.previous_pin:
        cli.set_config(SHA_KEY, checked.previous_pin)
    else:
        cli.remove_config(SHA_KEY)


def placed(checked: Checked) -> list[tuple[StackServer, str]]:
    """Where the checked config places the services; [] (and the `up` does it all) when it
    cannot say."""
    try:
        return placements(checked.config)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        print(f"switch-back skipped ({type(err).__name__}: {err}); pulumi up deploys the release",
              file=sys.stderr)
        return []


def deploy_keys(checked: Checked, keys: Future[dict[str, Secret]] | None) -> dict[str, Secret] | None:
    """The deploy keys for step 4, or None when there is nothing to switch back (no servers in
    the config, --engine-only) or they could not be read (then the `up` does it all)."""
    if keys is None:
        return None
    try:
        secrets = keys.result()
        if not placements(checked.config):
            return None
    except (PulumiError, OSError, KeyError, TypeError, ValueError) as err:
        print(f"switch-back skipped ({type(err).__name__}: {err}); pulumi up deploys the release",
              file=sys.stderr)
        return None
    return secrets


def pin(cli: PulumiCli, checked: Checked, keys: Future[dict[str, Secret]] | None
        ) -> tuple[dict[str, Secret] | None, bool]:
    """`slipway:sha` set before anything changes, and the deploy keys; whether the pin was the
    file's own edit. That edit is atomic, so it is made while the keys are still being read;
    `pulumi config set` rewrites the file in place, so it waits for them. Interrupted before
    anything was switched, the config is put back as it was."""
    in_file = cli.set_config_in_file(SHA_KEY, checked.sha)
    try:
        secrets = deploy_keys(checked, keys)
        if not in_file:
            cli.set_config(SHA_KEY, checked.sha)
    except BaseException:
        if in_file:
            restore_pin(cli, checked)
        raise
    return secrets, in_file


def switch_first(checked: Checked, secrets: Mapping[str, Secret] | DeployKeys,
                 connections: RollbackKeyConnections | None = None) -> list[Outcome]:
    """Step 4: every server back on its retained release, before the engine starts; says how
    far it got. A server it could not switch is left to the `up`."""
    start = time.monotonic()
    outcomes = switch_back(checked.config, secrets, checked.sha, current_actor(os.environ), connections)
    for outcome in outcomes:
        state = {SWITCHED: "switched back", NOT_RETAINED: "no retained release: pulumi up deploys it"}.get(
            outcome.code, f"FAILED (exit {outcome.code}): pulumi up deploys it")
        via = " (rollback key)" if outcome.via == "rollback key" else ""
        print(f"  {outcome.server} {outcome.service}: {state}{via}; {outcome.message}", flush=True)
    if outcomes and all(o.switched for o in outcomes):
        print(f"every server serves {checked.sha} again (switched back in"
              f" {time.monotonic() - start:.2f} s); recording it in the stack with pulumi up",
              flush=True)
    return outcomes


def apply(cli: PulumiCli, checked: Checked, hold: bool = False,
          keys: Future[dict[str, Secret]] | None = None,
          connections: RollbackKeyConnections | None = None) -> int:
    """Pin, switch back, `pulumi up`, then (unless `hold`) put the config back as it was: a
    rollback lasts until the next release, from a laptop exactly as from the workflow's
    throwaway runner. With `connections` (the rollback key's), the switch-back goes through
    them and decrypts the deploy keys only for a server they cannot switch."""
    with_key = connections is not None and bool(placed(checked))
    secrets, in_file = pin(cli, checked, keys)
    outcomes: list[Outcome] = []
    switching, code = secrets is not None or with_key, 1
    try:
        if with_key and connections is not None:
            try:
                outcomes = switch_first(checked, once(cli.secret_values), connections)
            finally:
                connections.close()  # no key held in an ssh-agent, no connection, during the `up`
        elif secrets is not None:
            outcomes = switch_first(checked, secrets)
        switching = False
        # Whether Pulumi itself reads the pin written into the file (asked after the switch, which
        # it would slow down on a small runner); the `up` runs on Pulumi's own write of it if not.
        if in_file and cli.plain_value(SHA_KEY) != checked.sha:
            print(f"pulumi does not read {SHA_KEY} from the edited config file; setting it with"
                  " `pulumi config set`", file=sys.stderr)
            cli.set_config(SHA_KEY, checked.sha)
        code = cli.up(release_message("rollback", cli.stack, checked.sha))
    finally:
        # Servers switched back (or maybe, if that step was interrupted) and no record of it in
        # the stack: the pin stays, so that the next `up` keeps them on it instead of leaving
        # them on a release the stack does not know.
        if not hold and not (code != 0 and (switching or any(o.may_have_switched for o in outcomes))):
            restore_pin(cli, checked)
    switched = [o for o in outcomes if o.switched]
    if code != 0:
        if switched:
            print(f"pulumi up failed (exit {code}) after {len(switched)} service(s) were switched"
                  f" back to {checked.sha}: they serve it, and {SHA_KEY} stays pinned to it in the"
                  " stack's config so that no `up` silently leaves them there. Run the same"
                  " rollback again (or `pulumi up`) to record it.", file=sys.stderr)
        elif any(o.may_have_switched for o in outcomes):
            print(f"pulumi up failed (exit {code}) after a switch-back whose result is unknown (its"
                  f" connection was lost, or it did not answer in time): {SHA_KEY} stays pinned to"
                  f" {checked.sha}. Run the same rollback again to continue it.", file=sys.stderr)
        else:
            print(f"pulumi up failed (exit {code}); run the same rollback again to continue it.",
                  file=sys.stderr)
        return EXIT_FAILED
    if hold:
        print(f"{cli.stack} now runs {checked.sha} and stays pinned ({SHA_KEY} is set in its"
              " config file: commit it so that CI holds the rollback too). `pulumi config rm"
              f" {SHA_KEY} --stack {cli.stack}` and `pulumi up` return it to the checkout's HEAD.")
    else:
        print(f"{cli.stack} now runs {checked.sha} until the next release: the next `pulumi up`"
              " (or push) deploys the checkout's HEAD again. To hold the rollback, run this with"
              f" --hold (or set {SHA_KEY} in Pulumi.{cli.stack}.yaml and commit it).")
    return EXIT_OK


def servers_in_file(cli: PulumiCli) -> list[Server]:
    """The servers the stack's config file names, read without Pulumi so that their connections
    open while the checks run; [] when the file cannot say for certain. The switch-backs go to
    the servers of the checked config: a file that says otherwise costs time, never a wrong
    server."""
    try:
        values = cli.config_from_file(ROLLBACK_CONFIG_KEYS)
        return [server.server for server, _ in placements(values)] if values else []
    except (KeyError, TypeError, ValueError, AttributeError):
        return []


def run(args: argparse.Namespace, cli: PulumiCli, ask: Callable[[str], bool] = confirm,
        rollback_key: Secret | None = None) -> int:
    switching = not (args.preview_only or args.engine_only)
    if switching and rollback_key is not None:
        # The servers' connections open now, beside the checks: nothing changes through them
        # unless every check passes. No deploy key is decrypted unless one is needed.
        with RollbackKeyConnections(rollback_key, current_actor(os.environ)) as connections:
            connections.open(servers_in_file(cli))
            return checked_run(args, cli, ask, None, connections)
    # The deploy keys are decrypted while the checks run (one `pulumi config --show-secrets`);
    # nothing uses them unless every check passes.
    with ThreadPoolExecutor(max_workers=1) as pool:
        keys = pool.submit(cli.secret_values) if switching else None
        return checked_run(args, cli, ask, keys)


def take_rollback_key(environ: MutableMapping[str, str]) -> Secret | None:
    """The rollback key the runner was given (`SLIPWAY_ROLLBACK_KEY`, the GitHub environment's
    secret), taken out of the environment so that no command this one starts inherits it."""
    value = environ.pop(ROLLBACK_KEY_ENV, "")
    return Secret(value) if value.strip() else None


def checked_run(args: argparse.Namespace, cli: PulumiCli, ask: Callable[[str], bool],
                keys: Future[dict[str, Secret]] | None,
                connections: RollbackKeyConnections | None = None) -> int:
    try:
        checked = check(args, cli)
        print(f"rollback {cli.stack}: {checked.current or '(nothing running)'} -> {checked.sha}"
              f"  ({checked.source})")
        for service, ref in checked.refs.items():
            print(f"  {service}: {ref} is in the registry")
        if not args.preview_only and not args.yes and not ask(
                f"Roll {cli.stack} back to {checked.sha} now?"):
            raise Refusal("not confirmed (pass --yes to run without asking).")
    except Refusal as refusal:
        print(f"slipway rollback: refused: {refusal} Nothing was changed.", file=sys.stderr)
        return EXIT_REFUSED
    except (PulumiError, RegistryError, ValueError) as err:
        print(f"slipway rollback: {err}\nNothing was changed.", file=sys.stderr)
        return EXIT_FAILED
    try:
        return (preview(cli, checked) if args.preview_only
                else apply(cli, checked, args.hold, keys, connections))
    except PulumiError as err:
        print(f"slipway rollback: {err}", file=sys.stderr)
        return EXIT_FAILED


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="slipway rollback",
        description="Roll a stack back to an earlier release (its image must still be in the"
                    " registry). Without --to: the release the running one replaced.")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--to", metavar="SHA", help="the commit to run (12-40 hex)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--yes", action="store_true", help="do not ask before `pulumi up`")
    mode.add_argument("--preview-only", action="store_true",
                      help="show the rollback's preview; leave the stack and its config as they are")
    parser.add_argument("--hold", action="store_true",
                        help="keep slipway:sha pinned in the config file afterwards (commit it for CI)")
    parser.add_argument("--engine-only", action="store_true",
                        help="no switch-back first: pulumi up deploys the release on every server")
    parser.add_argument("--config-file", type=Path, help="passed to pulumi (as --config-file)")
    parser.add_argument("--cwd", type=Path, help="the Pulumi project directory (pulumi --cwd)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    rollback_key = take_rollback_key(os.environ)
    args = parse_args(argv)
    refusal = state_refusal("rollback", args.stack, os.environ)
    if refusal:
        print(refusal, file=sys.stderr)
        return EXIT_REFUSED
    return run(args, PulumiCli(stack=args.stack, config_file=args.config_file, cwd=args.cwd),
               rollback_key=rollback_key)


if __name__ == "__main__":
    sys.exit(main())
