"""Post (or update) the sticky deploy-plan comment of one stack on a pull request.

    python -m slipway.delivery.plan_comment --stack prod --preview-json preview.json \\
        --repo owner/name --pr 12 [--api-url URL] [--outputs-json outputs.json] \\
        [--history-json history.json] [--git-dir ../app] [--preview-exit-code N] \\
        [--run-url URL] [--markdown-out FILE] [--dry-run]

The token comes from the environment (GITHUB_TOKEN), never from the command line. The comment
is found by its hidden marker `<!-- slipway-plan:<stack> -->` and updated in place.

"Older" (the rollback warning): by git ancestry when --git-dir is a checkout of the app that
knows both commits; otherwise by the stack's record, from --outputs-json (`replacedSha`) and
--history-json (`pulumi stack history --json`, see slipway.delivery.history).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slipway.delivery.github import DEFAULT_API_URL, GitHub, GitHubError
from slipway.delivery.history import deployed_shas
from slipway.delivery.ordering import Ordering, decide, git_probe
from slipway.delivery.plan_render import comment_marker, render
from slipway.delivery.preview import ReleasePlan, read_plan
from slipway.delivery.sticky import upsert
from slipway.secret import Secret, looks_secret

# Environment variables whose values must never end up in a comment, whatever happens.
_SHA = re.compile(r"^[0-9a-f]{40}$")


def redact(text: str, values: Sequence[str]) -> str:
    """`text` with every one of `values` (8+ characters) replaced by `[secret]`."""
    for value in sorted({v for v in values if len(v) >= 8}, key=len, reverse=True):
        text = text.replace(value, "[secret]")
    return text


def secret_env_values(environ: Mapping[str, str]) -> list[str]:
    return [v for k, v in environ.items() if looks_secret(k) and v]


def _load_json(path: Path | None, default: Any) -> Any:
    if path is None or not path.exists():
        return default
    text = path.read_text().strip()
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def build(args: argparse.Namespace) -> tuple[ReleasePlan, Ordering | None]:
    preview = _load_json(args.preview_json, None)
    outputs = _load_json(args.outputs_json, {})
    history = _load_json(args.history_json, [])
    outputs = outputs if isinstance(outputs, dict) else {}
    failed = preview is None or args.preview_exit_code != 0
    old = args.old_sha or (outputs.get("deployedSha") if isinstance(outputs.get("deployedSha"), str)
                           else None) or None
    plan = read_plan(preview if isinstance(preview, dict) else {}, stack=args.stack, old_sha=old,
                     preview_failed=failed)
    ordering = None
    if plan.old_sha and plan.new_sha:
        replaced = outputs.get("replacedSha")
        probe = None
        if args.git_dir is not None and (args.git_dir / ".git").exists():
            probe = git_probe(args.git_dir)
        ordering = decide(plan.new_sha, plan.old_sha,
                          replaced=replaced if isinstance(replaced, str) and replaced else None,
                          previous=deployed_shas(history if isinstance(history, list) else []),
                          is_ancestor=probe)
    return plan, ordering


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m slipway.delivery.plan_comment",
        description="Post or update the sticky deploy-plan comment of one stack on a PR.")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--preview-json", type=Path, required=True,
                        help="output of `pulumi preview --json` (missing/empty: the preview failed)")
    parser.add_argument("--repo", help="owner/name of the pull request's repository")
    parser.add_argument("--pr", type=int, help="pull request number")
    parser.add_argument("--api-url", default=os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL)
    parser.add_argument("--outputs-json", type=Path, help="`pulumi stack output --json`")
    parser.add_argument("--history-json", type=Path, help="`pulumi stack history --json`")
    parser.add_argument("--old-sha", help="the running release's SHA, if the preview lacks it")
    parser.add_argument("--git-dir", type=Path, help="a checkout of the app, for git ancestry")
    parser.add_argument("--preview-exit-code", type=int, default=0)
    parser.add_argument("--run-url", help="link to the workflow run")
    parser.add_argument("--markdown-out", type=Path, help="also append the Markdown to this file")
    parser.add_argument("--dry-run", action="store_true", help="print the Markdown, post nothing")
    args = parser.parse_args(argv)
    if args.old_sha and not _SHA.match(args.old_sha):
        parser.error("--old-sha must be a full 40-hex SHA")
    if not args.dry_run and (not args.repo or not args.pr):
        parser.error("--repo and --pr are required (or --dry-run)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan, ordering = build(args)
    body = redact(render(plan, ordering, run_url=args.run_url), secret_env_values(os.environ))
    if args.markdown_out is not None:
        with args.markdown_out.open("a") as out:
            out.write(body.split("\n", 1)[1] + "\n")
    if args.dry_run:
        print(body)
        return 0
    token = os.environ.get("GITHUB_TOKEN", "")
    if not token:
        print("plan_comment: GITHUB_TOKEN is not set", file=sys.stderr)
        return 2
    try:
        outcome = upsert(GitHub(args.api_url, Secret(token)), args.repo, args.pr,
                         comment_marker(args.stack), body)
    except (GitHubError, ValueError) as err:
        print(f"plan_comment: {err}", file=sys.stderr)
        return 1
    print(f"plan comment for {args.stack} on {args.repo}#{args.pr}: {outcome.action}"
          f" (comment {outcome.comment_id})"
          + (f", removed {outcome.removed_duplicates} duplicate(s)" if outcome.removed_duplicates else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
