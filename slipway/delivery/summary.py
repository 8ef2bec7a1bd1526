"""`slipway summary --stack S`: what a stack runs, in a few lines (after `make demo`, in CI logs).

Read from the stack's outputs only: secret outputs stay `[secret]` and are not shown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from slipway.delivery.pulumi_cli import PulumiCli, PulumiError


def render_summary(stack: str, outputs: Mapping[str, Any]) -> str:
    """The summary text of a stack's outputs."""
    if not outputs:
        return f"{stack}: nothing deployed yet"
    sha = outputs.get("deployedSha", "?")
    mode = {"build": "built from the checkout", "reuse": "an existing image (pinned SHA)"}.get(
        str(outputs.get("releaseMode")), "")
    replaced = outputs.get("replacedSha") or ""
    lines = [f"{stack}: runs {sha}" + (f" ({mode})" if mode else "")
             + (f", replacing {replaced}" if replaced and replaced != sha else "")]
    for service, ref in sorted((outputs.get("images") or {}).items()):
        lines.append(f"  image     {service}: {ref}")
    steps = outputs.get("migrationSteps") or []
    if steps:
        lines.append(f"  migration {len(steps)} step{'s' if len(steps) != 1 else ''}, in order:")
        lines += [f"            {i}. {step}" for i, step in enumerate(steps, 1)]
    deployed = sorted(outputs.get("images") or {})
    if deployed:
        lines.append(f"  deployed  {', '.join(deployed)} (each health-gated)")
    if outputs.get("githubEnvironment"):
        names = ", ".join(outputs.get("githubSecretNames") or []) or "no secrets"
        lines.append(f"  github    environment {outputs['githubEnvironment']}: {names}")
    if outputs.get("appUrl"):
        lines.append(f"  app URL   {outputs['appUrl']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slipway summary",
                                     description="What a stack runs: SHA, images, migration steps, URL.")
    parser.add_argument("--stack", required=True)
    args = parser.parse_args(argv)
    try:
        outputs = PulumiCli(stack=args.stack).outputs()
    except PulumiError as err:
        print(f"slipway summary: {err}", file=sys.stderr)
        return 1
    print(render_summary(args.stack, outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
