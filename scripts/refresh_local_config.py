"""`make demo`: the local stack's config copy under the cache, refreshed from the committed
Pulumi.local.yaml on every run (so a new slipway's keys arrive), keeping what the copy alone
holds: its encryption salt and the secret values set into it."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def refresh(committed: Path, copy: Path) -> None:
    fresh = yaml.safe_load(committed.read_text())
    old = yaml.safe_load(copy.read_text()) if copy.exists() else {}
    old = old or {}
    kept = {k: v for k, v in (old.get("config") or {}).items()
            if (isinstance(v, dict) and "secure" in v) or k == "slipway:secrets"}
    out = {**({"encryptionsalt": old["encryptionsalt"]} if "encryptionsalt" in old else {}),
           "config": {**fresh["config"], **kept}}
    copy.write_text(yaml.safe_dump(out, sort_keys=False))


if __name__ == "__main__":
    refresh(Path(sys.argv[1]), Path(sys.argv[2]))
