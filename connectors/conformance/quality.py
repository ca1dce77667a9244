"""The per-connector quality checklist (``quality.yaml``): every rule done, todo, or exempt with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RULES: dict[str, str] = {
    "manifest": "manifest.json names the connector, its capabilities and the ERP permissions it needs",
    "discovery": "registered in the arbridge.connectors entry-point group",
    "mapping-file": "ERP fields are mapped by a declarative mapping.yaml admins can override",
    "readme": "README documents settings, fields, permissions and known limits",
    "check-actionable": "check() tells an admin what to fix",
    "incremental-cursor": "reads resume from a cursor without losing or repeating records",
    "unsorted-streams-declared": "streams the ERP cannot sort carry non-resumable cursors",
    "rejects-not-crashes": "a record that cannot be mapped becomes a Reject; the page goes on",
    "soft-deletes": "deleted or voided records arrive with deleted=True",
    "idempotent-write": "writes pass the idempotency key to the ERP; a replay lands once",
    "conditional-update": "a stale base_version becomes a ConflictError result",
    "error-classification": "errors are raised as the classified connector errors",
    "secrets-redacted": "secrets are SecretStr and never in repr, logs or errors",
    "rate-limits": "capabilities declare the ERP's request budget and concurrency",
    "batch-api": "writes use the ERP's batch API up to capabilities.batch_max",
    "bounded-memory": "records stream page by page; memory does not grow with the ERP",
    "conformance": "the conformance kit runs in the connector's tests",
    "typed-and-linted": "mypy and ruff are clean on the connector package",
}
STATUSES = ("done", "todo", "exempt")


def quality_problems(path: Path) -> list[str]:
    """Everything wrong with a ``quality.yaml`` (empty when it is complete and well-formed)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {exc}"]
    rules: Any = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, dict):
        return ["expected a 'rules:' mapping of rule name to status"]
    problems: list[str] = []
    for name, entry in rules.items():
        if name not in RULES:
            problems.append(f"{name}: unknown rule (known: {', '.join(sorted(RULES))})")
            continue
        status = entry.get("status") if isinstance(entry, dict) else entry
        if status not in STATUSES:
            problems.append(f"{name}: status must be one of {', '.join(STATUSES)}, got {status!r}")
        elif status == "exempt" and not (isinstance(entry, dict) and str(entry.get("comment") or "").strip()):
            problems.append(f"{name}: an exemption needs a comment saying why")
    problems += [f"{name}: missing ({RULES[name]})" for name in RULES if name not in rules]
    return problems
