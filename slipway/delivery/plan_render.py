"""The plan comment's Markdown, rendered from a `ReleasePlan`: pure, no I/O.

It says in plain words what merging would do to one stack: the image SHA old -> new, whether
migrations run, which containers are replaced, which GitHub secrets change (names only), and
warns when the target SHA is older than the running one. It starts with the hidden marker
that makes it the stack's one sticky comment.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.delivery.ordering import Ordering
from slipway.delivery.preview import NamedChange, Op, ReleasePlan, ServerRelease, ServiceChange
from slipway.delivery.sticky import marker
from slipway.naming import PIN_NOTICE

MAX_CHARS = 60_000  # GitHub refuses comments over 65,536 characters
MAX_LIST = 40
MAX_ERROR_CHARS = 3_000

_DEPLOY_REASONS = {
    "create": "new release or settings",
    "stdin": "its env file (env or secrets) changed",
    "connection": "server connection changed",
    "delete": "its removal script changed",
    "triggers": "forced",
}
_SECRET_OPS: dict[Op, str] = {"create": "added", "update": "changed", "replace": "changed",
                              "delete": "removed", "other": "changed"}


def comment_marker(stack: str) -> str:
    return marker("slipway-plan", stack)


def short(sha: str | None) -> str:
    return f"`{sha[:12]}`" if sha else "unknown"


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _image_line(plan: ReleasePlan) -> str:
    if plan.new_sha is None:
        return f"**Image:** {short(plan.old_sha)} → not known from this preview"
    how = ("pinned with `slipway:sha`, the existing image is deployed, nothing is built"
           if plan.pinned else "built from the checkout")
    if plan.old_sha is None:
        return f"**Image:** first release of this stack → {short(plan.new_sha)} ({how})"
    if plan.old_sha == plan.new_sha:
        return f"**Image:** {short(plan.new_sha)}, unchanged"
    return f"**Image:** {short(plan.old_sha)} → {short(plan.new_sha)} ({how})"


def _migration_line(plan: ReleasePlan) -> str:
    if plan.migrations_skipped:
        return (f"**Migrations:** skipped ({plan.migrations_skipped}): no step runs and no backup"
                " is taken; the database keeps its schema.")
    if plan.migration == "create":
        return "**Migrations:** will run (the stack's first migration), before any container starts."
    if plan.migrates:
        return ("**Migrations:** will run, in the release's image, from the pipeline, before any"
                " container is replaced; if they fail, nothing is deployed.")
    if plan.migration == "delete":
        return "**Migrations:** the migration step is removed."
    return "**Migrations:** will not run (image, steps and time limit unchanged)."


def _service_reason(change: ServiceChange) -> str:
    if change.op == "create":
        return "started (new)"
    if change.op == "delete":
        return "removed"
    keys = sorted((k for k in change.changed if not (k == "delete" and "create" in change.changed)),
                  key=lambda k: list(_DEPLOY_REASONS).index(k) if k in _DEPLOY_REASONS else 99)
    reasons = [_DEPLOY_REASONS.get(k, k) for k in keys]  # the removal script follows the release
    return "replaced" + (f": {', '.join(dict.fromkeys(reasons))}" if reasons else "")


def _services_line(services: Sequence[ServiceChange]) -> str:
    if not services:
        return "**Containers:** none replaced."
    def where(s: ServiceChange) -> str:
        return f" on {_code(s.server)}" if s.server else ""

    items = "; ".join(f"{_code(s.container)}{where(s)} {_service_reason(s)}" for s in services[:MAX_LIST])
    more = f"; and {len(services) - MAX_LIST} more" if len(services) > MAX_LIST else ""
    return f"**Containers:** {items}{more}."


def _servers_line(servers: Sequence[ServerRelease]) -> str:
    def one(server: ServerRelease) -> str:
        if server.new_sha is None:
            return f"{_code(server.name)} removed (its containers and proxy stop)"
        if server.old_sha is None:
            return f"{_code(server.name)} new → {short(server.new_sha)}"
        if server.old_sha == server.new_sha:
            return f"{_code(server.name)} {short(server.old_sha)}, unchanged"
        return f"{_code(server.name)} {short(server.old_sha)} → {short(server.new_sha)}"

    more = f"; and {len(servers) - MAX_LIST} more" if len(servers) > MAX_LIST else ""
    return "**Servers** (in rollout order): " + "; ".join(one(s) for s in servers[:MAX_LIST]) + more + "."


def _names_line(title: str, changes: Sequence[NamedChange]) -> str:
    if not changes:
        return f"**{title}:** none change."
    groups: dict[str, list[str]] = {}
    for change in changes[:MAX_LIST]:
        groups.setdefault(_SECRET_OPS.get(change.op, "changed"), []).append(_code(change.name))
    more = f"; and {len(changes) - MAX_LIST} more" if len(changes) > MAX_LIST else ""
    return f"**{title}:** " + "; ".join(f"{', '.join(n)} {verb}" for verb, n in groups.items()) + more + "."


def _ordering_note(plan: ReleasePlan, ordering: Ordering | None) -> str | None:
    if ordering is None or plan.old_sha is None or plan.new_sha is None:
        return None
    if ordering.verdict == "older":
        return (f"> [!WARNING]\n> **Rollback across migrations.** {short(plan.new_sha)} is older than"
                f" the running {short(plan.old_sha)} (decided by {ordering.basis}). Migrations"
                " only run forward: the database keeps the running release's schema, and the"
                " older code must work with it.")
    if ordering.verdict == "diverged":
        return (f"> [!WARNING]\n> {short(plan.new_sha)} does not contain the running"
                f" {short(plan.old_sha)} (decided by {ordering.basis}): it lacks some of the"
                " running release's commits, possibly migrations the database already has.")
    if ordering.verdict == "unknown" and plan.pinned:
        return (f"> [!NOTE]\n> {short(plan.new_sha)} is pinned and could not be placed before or"
                f" after the running {short(plan.old_sha)}: {ordering.basis}.")
    return None


def _errors_block(errors: Sequence[str]) -> str:
    text = "\n\n".join(errors)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + "\n… (cut; the workflow log has the rest)"
    return "```text\n" + text.replace("```", "'''") + "\n```"


def render(plan: ReleasePlan, ordering: Ordering | None = None, *,
           run_url: str | None = None) -> str:
    """The whole comment body, marker first."""
    title = f"### slipway plan: `{plan.stack}`"
    where = []
    if plan.environment:
        where.append(f"environment `{plan.environment}`")
    if plan.github_environment:
        where.append(f"GitHub environment `{plan.github_environment}`")
    lines = [comment_marker(plan.stack), title + (f" ({', '.join(where)})" if where else ""), ""]

    if plan.failed:
        lines += ["**The preview failed**: merging now would not deploy. Nothing below is final.",
                  ""]
        if plan.errors:
            lines += [_errors_block(plan.errors), ""]

    if plan.pin_notice:
        lines += ["> [!IMPORTANT]\n> **Pinned.** " + plan.pin_notice.removeprefix(PIN_NOTICE).strip()
                  .replace("`", "'"), ""]
    note = _ordering_note(plan, ordering)
    if note:
        lines += [note, ""]
    secret_title = ("GitHub secrets" + (f" in `{plan.github_environment}`"
                                        if plan.github_environment else "") + " (names only)")
    lines += [
        f"- {_image_line(plan)}",
        f"- {_migration_line(plan)}",
        f"- {_services_line(plan.services)}",
        *([f"- {_servers_line(plan.servers)}"] if plan.servers else []),
        f"- {_names_line(secret_title, plan.secrets)}",
    ]
    if plan.variables:
        lines.append(f"- {_names_line('GitHub variables', plan.variables)}")
    if plan.other:
        shown = plan.other[:MAX_LIST]
        lines += ["", f"<details><summary>Other resources that change ({len(plan.other)})</summary>",
                  ""]
        lines += [f"- {c.op}: {_code(c.name)}" for c in shown]
        if len(plan.other) > MAX_LIST:
            lines.append(f"- and {len(plan.other) - MAX_LIST} more")
        lines += ["", "</details>"]
    if not plan.changes_anything and not plan.failed:
        lines += ["", "Nothing changes: merging would leave this stack as it is."]
    footer = "From `pulumi preview --json`; secret values are never shown."
    if run_url:
        footer += f" [Workflow run]({run_url})."
    lines += ["", f"<sub>{footer}</sub>", ""]
    body = "\n".join(lines)
    if len(body) > MAX_CHARS:
        body = body[:MAX_CHARS] + "\n\n… (cut to fit a GitHub comment)\n"
    return body
