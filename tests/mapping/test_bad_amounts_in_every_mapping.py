"""An amount no ERP could hold never becomes a record, whichever connector's mapping reads it.

``NaN``, ``Infinity``, ``1E+30`` and more decimals than the currency has are refused as the invoice
total, read at the path each shipped mapping takes it from (or computed by the connector, as SAP's
and Business Central's are): the record becomes a reject naming ``total``, so the connector puts it
in quarantine and the rest of its page syncs.
"""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mapping import FieldMap, MappingError, Stream

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = sorted(ROOT.glob("connectors/*/mapping.yaml"))
BAD = ["NaN", "Infinity", "1E+30", "10.005"]


def load(mapping: Path) -> FieldMap:
    """The shipped mapping, with its connector's transforms registered (its module registers them)."""
    importlib.import_module(f"connectors.{mapping.parent.name}.connector")
    return FieldMap.load(mapping)


def invoice(fieldmap: FieldMap, total: str) -> Any:
    """An invoice of 10.00 EUR open with ``total`` where the mapping reads its total."""
    spec = fieldmap.fields(Stream.INVOICES).get("total")
    path = spec if isinstance(spec, str) else (spec or {}).get("path") if isinstance(spec, dict) else None
    if isinstance(path, list):
        path = path[0]
    extra: dict[str, Any] = {
        "remote_id": "INV-1",
        "remote_modified_at": datetime(2026, 11, 1, tzinfo=UTC),
        "customer_remote_id": "C1",
        "currency": "EUR",
        "issue_date": date(2026, 10, 1),
        "open_amount": Decimal("10.00"),
    }
    raw: dict[str, Any] = {}
    if path:
        node = raw
        *parents, leaf = str(path).split(".")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = total
    else:  # computed by the connector from the ERP's amount
        extra["total"] = total
    return fieldmap.to_record(Stream.INVOICES, raw, **extra)


@pytest.mark.parametrize("mapping", MAPPINGS, ids=[p.parent.name for p in MAPPINGS])
def test_every_mapping_reads_a_good_total(mapping: Path) -> None:
    assert invoice(load(mapping), "10.00").total == Decimal("10.00")


@pytest.mark.parametrize("amount", BAD)
@pytest.mark.parametrize("mapping", MAPPINGS, ids=[p.parent.name for p in MAPPINGS])
def test_every_mapping_refuses_a_total_no_erp_could_hold(mapping: Path, amount: str) -> None:
    with pytest.raises(MappingError) as refused:
        invoice(load(mapping), amount)
    assert refused.value.remote_id == "INV-1" and refused.value.field == "total"
