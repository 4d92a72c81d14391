"""Checks deploy/grafana/viscount.json: it is a Grafana dashboard (valid JSON with a
title, a uid and panels, each panel of data with at least one query), and every metric
its queries name is declared in the code: `viscount_<name>` (or one of a histogram's
`_bucket`, `_sum`, `_count` series) needs the string literal "<name>" in a Rust source
of crates/ or services/, where the platform's metric declarations take it.

That the metrics are also served is the Rust test's part
(apps/viscount/tests/metrics.rs scrapes /metrics after real traffic and requires every
name the dashboard queries). Exits non-zero on any failure.
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "viscount.json"
SOURCES = [ROOT / "crates", ROOT / "services"]
NAME = re.compile(r"\bviscount_([a-z0-9_]+)")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")


def queries(value: object) -> list[str]:
    """Every `expr` of the dashboard, wherever it sits."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "expr" and isinstance(inner, str):
                found.append(inner)
            else:
                found.extend(queries(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(queries(inner))
    return found


def declared_names() -> set[str]:
    """The string literals of the Rust sources (metric names among them)."""
    literals: set[str] = set()
    for root in SOURCES:
        for path in root.rglob("*.rs"):
            literals.update(re.findall(r'"([a-z0-9_]+)"', path.read_text(encoding="utf-8")))
    return literals


def main() -> int:
    failures: list[str] = []
    try:
        dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        print(f"FAIL {DASHBOARD.relative_to(ROOT)}: not readable JSON: {err}")
        return 1
    if not isinstance(dashboard, dict):
        print(f"FAIL {DASHBOARD.relative_to(ROOT)}: not a JSON object")
        return 1
    for key in ("title", "uid", "panels"):
        if not dashboard.get(key):
            failures.append(f"no `{key}`")
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            continue
        exprs = [t.get("expr", "") for t in panel.get("targets") or []]
        if not exprs or not all(e.strip() for e in exprs):
            failures.append(f"panel {panel.get('title')!r} has no query, or an empty one")
    names = {match for expr in queries(dashboard) for match in NAME.findall(expr)}
    if not names:
        failures.append("no query names a viscount_ metric")
    literals = declared_names()
    for name in sorted(names):
        candidates = {name} | {
            name[: -len(suffix)] for suffix in HISTOGRAM_SERIES if name.endswith(suffix)
        }
        if not candidates & literals:
            failures.append(f"viscount_{name} is declared nowhere in crates/ or services/")
    for failure in failures:
        print(f"FAIL {DASHBOARD.relative_to(ROOT)}: {failure}")
    if failures:
        return 1
    print(
        f"ok   {DASHBOARD.relative_to(ROOT)}: {len(dashboard['panels'])} panels, "
        f"{len(names)} metrics, each declared in the code"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
