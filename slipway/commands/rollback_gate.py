"""The rollback key's side on a server: the gate it is forced through, its `authorized_keys`
line, and the one request a client may send through it.

The key's line carries `restrict` (no pty, no forwarding of any kind, no ~/.ssh/rc) and
`command=` the gate, so whatever a client asks to run, sshd runs the gate instead, with the
request in SSH_ORIGINAL_COMMAND. The gate accepts exactly `switch-back DIGEST SERVICE SHA WHERE
ACTOR`, each word checked against a closed set of characters, and runs that switch-back of its
own environment's service with an agent the deploys installed (DIGEST names its version); it
never takes a script or a path from the client. Anything else is refused with GATE_REFUSED.
The switch-back goes to any release the service retains there (the one the live release
replaced, or one further back, as `slipway rollback --to` may ask), and the audit log records
its actor as `rollback-key:<ACTOR>`.

Each server's line is named by a comment of its own (environment, and a hash of stack, server
name and deploy dir), so that two stacks sharing a deploy user, or a server's resource renamed
(created under the new name before the old one is deleted), never remove each other's line.
"""

from __future__ import annotations

import hashlib
import re
import shlex

from slipway.commands.agent import AGENT_DIR, agent_path

AGENT_MISSING = 10  # that version of the agent is not on the server (no deploy installed it)
GATE_REFUSED = 11  # the request is not one the gate runs
_UNSAFE = re.compile(r"[^A-Za-z0-9@.:_-]")


def gate_path(deploy_dir: str, environment: str) -> str:
    return f"{deploy_dir.rstrip('/')}/{AGENT_DIR}/rollback-gate-{environment}.sh"


def render_gate(deploy_dir: str, environment: str) -> str:
    """The forced command's script; `deploy_dir` and `environment` are validated config values
    (an absolute path of [A-Za-z0-9._/-], a short lower-case name)."""
    root = deploy_dir.rstrip("/")
    return f"""#!/bin/sh
# slipway's rollback gate for the environment {environment}: the forced command of its rollback
# key. It runs one thing, the switch-back of one of {environment}'s services to a release the
# server keeps, with an agent a deploy installed.
# Exit {GATE_REFUSED}: refused; {AGENT_MISSING}: no such agent.
set -eu
set -f
refuse() {{ echo "slipway rollback gate: refused: $1" >&2; exit {GATE_REFUSED}; }}
words_ok() {{  # $1: what; $2: the value; $3: the characters it may hold
  case $2 in ''|-*) refuse "$1 is empty or starts with -" ;; esac
  case $2 in *[!$3]*) refuse "$1 holds a character other than $3" ;; esac
}}
# shellcheck disable=SC2086 # split into words on purpose; each one is checked below
set -- ${{SSH_ORIGINAL_COMMAND:-}}
if [ "$#" -ne 6 ] || [ "$1" != switch-back ]; then
  refuse "not: switch-back DIGEST SERVICE SHA WHERE ACTOR"
fi
words_ok "the agent's version" "$2" 0-9a-f
words_ok "the service" "$3" a-z0-9-
words_ok "the sha" "$4" 0-9a-f
words_ok "where" "$5" A-Za-z0-9@.:_-
words_ok "the actor" "$6" A-Za-z0-9@.:_-
[ "${{#2}}" -eq 12 ] || refuse "the agent's version is not 12 hex digits"
[ "${{#4}}" -eq 40 ] || refuse "the sha is not 40 hex digits"
agent={root}/{AGENT_DIR}/agent-$2.sh
if [ ! -s "$agent" ]; then
  echo "slipway rollback gate: agent $2 is not installed here" >&2; exit {AGENT_MISSING}
fi
exec timeout --kill-after=15 300 sh "$agent" switch-back --dir "{root}/{environment}/$3" \\
  --sha "$4" --where "$5" --actor "rollback-key:$6"
"""


def line_comment(stack: str, environment: str, server: str, deploy_dir: str) -> str:
    """The comment that names one server's line of this stack's rollback key."""
    digest = hashlib.sha256(f"{stack}\0{server}\0{deploy_dir.rstrip('/')}".encode()).hexdigest()[:10]
    return f"slipway-rollback-{environment}-{digest}"


def authorized_line(deploy_dir: str, environment: str, public_key: str, comment: str) -> str:
    """The rollback key's `authorized_keys` line: forced through the gate, nothing else allowed."""
    key_type, blob = public_key.split()[:2]
    return f'restrict,command="sh {gate_path(deploy_dir, environment)}" {key_type} {blob} {comment}'


# Both edits of `authorized_keys` hold a lock (two stacks' `up` on one deploy user at once; an
# edit killed by a signal lets it go, one killed outright leaves it, stale after two minutes and
# waited for up to two and a half), write through a symlink to the file it names, and replace
# that file whole, mode 0600.
_KEYS_EDIT = (
    'set -eu; umask 077; mkdir -p ~/.ssh; l=~/.ssh/.slipway-keys.lock; n=0;'
    ' until mkdir "$l" 2>/dev/null; do n=$((n + 1)); [ "$n" -lt 1500 ] || { echo "slipway: $l is held" >&2;'
    ' exit 1; }; if [ -n "$(find "$l" -maxdepth 0 -mmin +2 2>/dev/null)" ]; then'
    ' mv "$l" "$l.stale.$$" 2>/dev/null && rm -rf "$l.stale.$$"; fi; sleep 0.1; done;'
    ' t=""; g=""; trap \'rm -rf ${t:+"$t"} ${g:+"$g"} "$l"\' EXIT; trap \'exit 1\' HUP INT TERM;'
    ' f=$(readlink -f ~/.ssh/authorized_keys 2>/dev/null || echo ~/.ssh/authorized_keys);'
    ' t=$(mktemp "$(dirname "$f")/.slipway-keys.XXXXXX");'
    ' if [ -f "$f" ]; then awk -v c="$1" \'$NF != c\' "$f" > "$t"; fi;'
)


def install_key_command(deploy_dir: str, environment: str, public_key: str, comment: str) -> str:
    """Writes the gate (from stdin) and puts the key's line in the deploy user's `authorized_keys`
    in place of this server's earlier line (`comment`); every other line is kept."""
    gate = gate_path(deploy_dir, environment)
    script = (
        _KEYS_EDIT + ' printf \'%s\\n\' "$2" >> "$t"; chmod 600 "$t"; mkdir -p "$(dirname "$3")";'
        ' g=$(mktemp "$(dirname "$3")/.gate.XXXXXX"); cat > "$g"; chmod 755 "$g"; mv -f "$g" "$3";'
        ' mv -f "$t" "$f"'
    )
    return shlex.join(["sh", "-c", script, "slipway-rollback-key", comment,
                       authorized_line(deploy_dir, environment, public_key, comment), gate])


def remove_key_command(deploy_dir: str, environment: str, comment: str) -> str:
    """Takes this server's line (`comment`) out of `authorized_keys`; the gate goes too unless
    another line (another stack's or server's of this deploy dir) still runs it."""
    script = (
        _KEYS_EDIT + ' if [ -f "$f" ]; then chmod 600 "$t"; mv -f "$t" "$f"; fi;'
        ' grep -qF "command=\\"sh $2\\"" "$f" 2>/dev/null || rm -f "$2"'
    )
    return shlex.join(["sh", "-c", script, "slipway-rollback-key", comment,
                       gate_path(deploy_dir, environment)])


def safe_word(value: str) -> str:
    """`value` with every character the gate refuses replaced by `_` (for WHERE and ACTOR, which
    only label the audit log)."""
    return _UNSAFE.sub("_", value).lstrip("-") or "_"


def gate_request(deploy_dir: str, service: str, sha: str, where: str, actor: str) -> str:
    """What a client asks the gate for: this version's agent switching `service` back to `sha`."""
    digest = agent_path(deploy_dir).rsplit("agent-", 1)[1].removesuffix(".sh")
    return " ".join(["switch-back", digest, service, sha, safe_word(where), safe_word(actor)])
