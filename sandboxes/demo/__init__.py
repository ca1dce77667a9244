"""``arbridge demo``: one full cycle on embedded defaults, against a local ERP with seeded data.

The first run pulls everything into a fresh SQLite state file, runs the rules and writes the
results back; ``--resume`` simulates a little activity in the ERP and runs an incremental cycle
that pulls only what changed.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runner import deciders_for, open_store, sync_connection
from sandboxes.demo.story import DemoStory

Echo = Callable[[str], None]


def default_state_dir() -> Path:
    """Where the demo keeps its state: the user's state folder, never the current directory.

    ``$XDG_STATE_HOME/arbridge/demo`` (``~/.local/state/arbridge/demo``), or
    ``%LOCALAPPDATA%\\arbridge\\demo`` on Windows, so running the demo inside a checkout leaves
    nothing for git to pick up.
    """
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "arbridge" / "demo"
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "arbridge" / "demo"


def _resume_command(state_dir: Path, erp_name: str | None) -> str:
    where = "" if state_dir == default_state_dir().absolute() else f" --state-dir {state_dir}"
    return "arbridge demo" + (f" --erp {erp_name}" if erp_name else "") + f" --resume{where}"


@dataclass
class DemoERP:
    """A running local ERP and how to connect to it."""

    kind: str
    connection: dict[str, Any]
    describe: str
    where_written: str
    # How the summary names the ERP ("Written back to QuickBooks").
    name: str = "the ERP"
    # The one-time consent an admin gives with `arbridge auth …`, given the connection's state.
    authorize: Callable[[Any], None] | None = None


#: The ERPs ``arbridge demo --erp NAME`` can run against.
ERP_MODULES = {
    "quickbooks": "sandboxes.demo.quickbooks",
    "sap-s4hana": "sandboxes.demo.sap_s4hana",
    "sap-business-one": "sandboxes.demo.sap_business_one",
    "business-central": "sandboxes.demo.business_central",
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
        if erp.authorize is not None:
            erp.authorize(store.connector_state(connection.name))
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
        channels = list(deployment.rules.dunning.channels.configured)
        DemoStory(store, report, erp.name, echo).tell(channels=channels)
        for error in report.errors:
            echo(f"  ! {error}")
        echo(f"\nThe ERP's side of it: {erp.where_written}")
        echo(f"arbridge's state (SQLite): {state_dir / 'arbridge.sqlite'}")
        if not resume:
            echo(f"Next: `{_resume_command(state_dir, erp_name)}` for an incremental cycle.")
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
