"""The demo's fallback ERP: a folder of CSV exports, as many small businesses have."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandboxes.demo import DemoERP


@contextmanager
def local_erp(state_dir: Path, *, resume: bool, echo: Callable[[str], None]) -> Iterator[DemoERP]:
    from connectors.csv import sample

    folder = state_dir / "erp-exports"
    if not resume or not folder.exists():
        for old in folder.glob("*.csv") if folder.exists() else []:
            old.unlink()
        sample.write_sample_exports(folder)
    else:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        changed = sample.edit_rows(
            folder / "customers.csv", _first_ids(folder / "customers.csv", 1), {"modified_at": stamp}
        )
        echo(f"Simulated ERP activity: customer {', '.join(changed)} edited at {stamp}")
    yield DemoERP(
        kind="csv",
        name="the CSV exports",
        connection={
            "name": "demo-erp",
            "connector": "csv",
            "settings": {"folder": str(folder)},
            "write_back": {"enabled": True},
        },
        describe=f"CSV exports in {folder}",
        where_written=str(folder / "writeback.csv"),
    )


def _first_ids(path: Path, n: int) -> list[str]:
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        rows: list[dict[str, Any]] = list(csv.DictReader(fh))
    return [r["id"] for r in rows[:n]]
