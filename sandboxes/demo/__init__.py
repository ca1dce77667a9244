"""``arbridge demo``: one full cycle on embedded defaults, against a local ERP with seeded data.

The first run pulls everything into a fresh SQLite state file, runs the rules and writes the
results back; ``--resume`` simulates a little activity in the ERP and runs an incremental cycle
that pulls only what changed.
"""

from __future__ import annotations

import importlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runner import deciders_for, open_store, sync_connection
from engine.sync import CycleReport
from store import StateStore

Echo = Callable[[str], None]


@dataclass
class DemoERP:
    """A running local ERP and how to connect to it."""

    kind: str
    connection: dict[str, Any]
    describe: str
    where_written: str


#: The ERPs ``arbridge demo --erp NAME`` can run against.
ERP_MODULES = {
    "quickbooks": "sandboxes.demo.quickbooks",
    "sap-s4hana": "sandboxes.demo.sap_s4hana",
    "sap-business-one": "sandboxes.demo.sap_business_one",
    "csv": "sandboxes.demo.csv_exports",
    "dynamics-gp": "sandboxes.demo.dynamics_gp",
}


def _erp_profiles() -> list[str]:
    """The local ERPs the demo can use, best first: a sandbox speaking a real ERP's protocol."""
    profiles = []
    for module in ("sandboxes.demo.quickbooks",):
        try:
            importlib.import_module(module)
            profiles.append(module)
        except ImportError:
            continue
    profiles.append("sandboxes.demo.csv_exports")
    return profiles


@contextmanager
def demo_erp(state_dir: Path, resume: bool, echo: Echo, erp: str | None = None) -> Iterator[DemoERP]:
    module = importlib.import_module(ERP_MODULES[erp] if erp else _erp_profiles()[0])
    with module.local_erp(state_dir, resume=resume, echo=echo) as running:
        yield running


def run_demo(
    state_dir: Path, *, resume: bool = False, echo: Echo = print, erp_name: str | None = None
) -> int:
    """Run the demo cycle; return the process exit code."""
    from config import default_config

    state_dir = state_dir.absolute()
    fresh = not (state_dir / "arbridge.sqlite").exists()
    if resume and fresh:
        echo(f"No earlier demo state in {state_dir}: running a first full cycle instead.")
        resume = False
    if not resume and not fresh:
        for leftover in state_dir.glob("arbridge.sqlite*"):
            leftover.unlink()
    state_dir.mkdir(parents=True, exist_ok=True)
    with demo_erp(state_dir, resume, echo, erp_name) as erp:
        deployment = default_config(
            state_dir,
            overrides={
                "connections": [erp.connection],
                "rules": _demo_rules(),
            },
        )
        connection = deployment.connections[0]
        store = open_store(deployment)
        echo(f"ERP: {erp.describe}")
        echo(
            "Cycle: "
            + (
                "incremental (only what changed since the last run)"
                if resume
                else "full pull into a fresh state file"
            )
        )
        deciders = deciders_for(deployment, connection)
        report = sync_connection(deployment, connection, store, deciders=deciders, sleep=lambda s: None)
        _summarise(store, report, echo)
        echo(f"\nWrite-backs landed in: {erp.where_written}")
        echo(f"State file: {state_dir / 'arbridge.sqlite'}")
        if not resume:
            erp_option = f" --erp {erp_name}" if erp_name else ""
            again = f"arbridge demo{erp_option} --resume --state-dir {state_dir}"
            echo(f"Next: `{again}` for an incremental cycle.")
        store.close()
    return 0 if report.status in ("ok", "partial") else 1


def _demo_rules() -> dict[str, Any]:
    rules: dict[str, Any] = {}
    policy = Path(__file__).resolve().parents[2] / "config" / "dunning-policy.example.yaml"
    if policy.exists():
        rules["dunning"] = {"enabled": True, "policy": str(policy)}
    try:
        importlib.import_module("rules.cashapp")
        rules["cashapp"] = {"enabled": True}
    except ImportError:
        pass
    return rules


def _summarise(store: StateStore, report: CycleReport, echo: Echo) -> None:
    echo(
        f"\nPulled (run {report.run_id[:8]}, {report.status}, {report.seconds:.1f}s, "
        f"{report.api_calls} API calls):"
    )
    for stream, n in report.pulled.items():
        echo(
            f"  {stream:<13} {n.get('new', 0):>5} new  {n.get('changed', 0):>5} changed  "
            f"{n.get('unchanged', 0):>5} unchanged  {n.get('deleted', 0):>3} deleted  "
            f"{n.get('quarantined', 0):>3} quarantined"
        )
    if any(n.get("quarantined") for n in report.pulled.values()):
        for q in store.quarantined(report.connection, limit=5):
            echo(f"    quarantined {q['stream']} {q['remote_id']}: {q['field_path']}: {q['reason']}")
    decided: Counter[str] = Counter()
    examples: list[str] = []
    for entry in reversed(store.audit_entries(report.connection, limit=5000)):
        if entry["run_id"] != report.run_id or entry["event"] != "decided":
            continue
        detail = json.loads(entry["detail"])
        decided[f"{detail['rule']}: {detail['op'].get('collection_status') or 'payment application'}"] += 1
        if len(examples) < 6:
            examples.append(f"    {entry['subject']}: {_describe_op(detail['op'])}")
    echo("\nDecided:")
    if not decided:
        echo("  nothing new to do")
    for what, count in sorted(decided.items()):
        echo(f"  {count:>5}  {what}")
    for line in examples:
        echo(line)
    echo("\nWritten back to the ERP:")
    written = dict(report.written)
    echo("  " + (", ".join(f"{v} {k}" for k, v in sorted(written.items())) or "nothing"))
    stats = store.outbox_stats(report.connection)["counts"]
    echo(
        f"  outbox: {stats.get('done', 0)} done, {stats.get('pending', 0)} pending, "
        f"{stats.get('parked', 0)} parked"
    )


def _describe_op(op: dict[str, Any]) -> str:
    if "collection_status" in op:
        level = f" level {op['dunning_level']}" if op.get("dunning_level") is not None else ""
        nxt = f", next action {op['next_action_date']}" if op.get("next_action_date") else ""
        return f"{op['collection_status']}{level}{nxt}"
    if "allocations" in op:
        parts = ", ".join(f"{a['target_type']} {a['target_id']} {a['amount']}" for a in op["allocations"])
        return f"apply {op['amount']} {op['currency']} to {parts}"
    return str(op.get("text", op))
