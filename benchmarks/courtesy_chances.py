"""What the payment model's chances add to a dunning plan with ``courtesy.only_likely_late``.

    python -m benchmarks.courtesy_chances              # 100k customers / 1M invoices / 300k payments
    python -m benchmarks.courtesy_chances --scale 0.1  # a tenth of that
    python -m benchmarks.courtesy_chances --db FILE    # keep (or reuse) the filled SQLite store

The store is the worklist benchmark's (``benchmarks.dunning_worklist_store``), filled in a child
process. The example policy with ``only_likely_late: 0.5`` is planned on it without a stored model
(the records judge), then with one (fitted first, not measured here: the daemon does it beside the
cycles). Prints one JSON line per plan with its processor time (``cpu_seconds``) beside the wall
``seconds``, and a line for reading the chances alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import measure
from benchmarks.dunning_worklist_store import CONNECTION

# The in-memory ERP's invoices fall due until early March 2024: some fall due the week after this.
AS_OF = datetime(2024, 2, 28, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    """Fill the store unless it exists, then plan without and with a stored model."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 100k/1M/300k records")
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    import sqlalchemy as sa

    from config.model import PredictionConfig
    from engine.courtesy_chances import courtesy_late_chances
    from engine.payment_model import refit
    from engine.rules import load_dunning_policy, plan_from_store
    from store import StateStore
    from store import schema as t

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "bench.sqlite"
        url = f"sqlite:///{db}"
        probe = StateStore.open(url)
        empty = not probe.count_records(CONNECTION)
        probe.close()
        if empty:
            cmd = [sys.executable, "-m", "benchmarks.dunning_worklist_store", "--fill-only"]
            subprocess.run([*cmd, "--url", url, "--scale", str(args.scale)], check=True)
        example = (ROOT / "config" / "dunning-policy.example.yaml").read_text()
        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(example.replace("# only_likely_late: 0.5", "only_likely_late: 0.5"))
        policy = load_dunning_policy(str(policy_file))
        store = StateStore.open(url)
        with store.engine.begin() as conn:  # a reused store: the first plan is the one without a model
            conn.execute(sa.delete(t.prediction_models).where(t.prediction_models.c.connection == CONNECTION))
        invoices = store.count_records(CONNECTION).get("invoices", 0)

        def plan(name: str) -> None:
            cpu = time.process_time()
            with measure(name) as m:
                m.n = sum(1 for _ in plan_from_store(policy, store, CONNECTION, AS_OF))
                m.extra = {"cpu_seconds": round(time.process_time() - cpu, 2), "invoices": invoices}

        plan("dunning.courtesy.plan.records")
        refit(store, CONNECTION, PredictionConfig())
        cpu = time.process_time()
        with measure("dunning.courtesy.chances") as m:
            chances = courtesy_late_chances(store, CONNECTION, policy, AS_OF) or {}
            m.n = len(chances)
            m.extra = {"cpu_seconds": round(time.process_time() - cpu, 2), "invoices": invoices}
        plan("dunning.courtesy.plan.model")
        store.close()


if __name__ == "__main__":
    main()
