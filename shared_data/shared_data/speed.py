"""Training-speed case tables for the zoo scripts (``zoo.py speed``, issue 19): run the named cases of a table,
one JSON row per case (the case's settings, the load average when it started and the runner's measurements)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path


def run_cases(table: Mapping[str, dict], names: str | None, base: dict, run: Callable[[dict], dict],
              label: dict | None = None, out: str | os.PathLike | None = None,
              error: type[Exception] = ValueError) -> list[dict]:
    """``names``: a comma list of ``table``'s keys (None: all). Each case runs ``run({**base, **table[name]})``;
    its row gets ``case``, ``label``'s fields, ``load`` and the settings, is printed as JSON and, with ``out``,
    all rows are written there atomically. An unknown name raises ``error`` before anything runs."""
    chosen = names.split(",") if names else list(table)
    for name in chosen:
        if name not in table:
            raise error(f"unknown speed case {name!r} (have {', '.join(table)})")
    rows = []
    for name in chosen:
        kw = {**base, **table[name]}
        load0 = os.getloadavg()[0]
        row = dict(run(kw))
        row.update(case=name, **(label or {}), load=round(load0, 1), **kw)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        os.replace(tmp, out)
    return rows
