"""A NetSuite customer's dunning letter is addressed to the billing address NetSuite holds.

The daemon pulls the NetSuite sandbox (Customer.defaultAddress, as SuiteTalk prints it with the
addressee first), plans reminders with a letter channel, and drops the PDFs: each letter names the
customer once, then the street and the place from NetSuite, where a window envelope shows them.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from config import default_config
from engine.runner import open_store, sync_connection
from sandboxes.netsuite import NetSuiteSandbox
from tests.connectors.netsuite.conftest import settings_for
from tests.engine.dunning_fixtures import POLICY
from tests.rules.dunning.builders import pdf_streams


def pdf_text(pdf: bytes) -> list[str]:
    """The strings an fpdf2 PDF draws, in order: inflate every content stream, keep the strings."""
    chunks = pdf_streams(pdf)
    return [s.decode("latin-1") for s in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", b"\n".join(chunks))]


def test_a_netsuite_customers_letter_carries_its_billing_address(
    tmp_path: Path, sandbox: NetSuiteSandbox
) -> None:
    policy = tmp_path / "dunning-policy.yaml"
    # Reminders go by post: the first level's e-mail is left out.
    policy.write_text(textwrap.dedent(POLICY).replace("channels: [email, letter]", "channels: [letter]"))
    letters = tmp_path / "letters"
    cfg = default_config(
        tmp_path / "state",
        overrides={
            "connections": [{"name": "ns", "connector": "netsuite", "settings": settings_for(sandbox)}],
            "rules": {
                "dunning": {
                    "enabled": True,
                    "policy": str(policy),
                    "channels": {"letter": {"dir": str(letters)}},
                }
            },
        },
    )
    store = open_store(cfg)

    report = sync_connection(cfg, cfg.connections[0], store)

    store.close()
    assert report.status == "ok", report
    covers = [json.loads(p.read_text()) for p in sorted(letters.glob("*.json"))]
    assert len(covers) >= 5, report
    for cover in covers:
        drawn = pdf_text((letters / f"{cover['key']}.pdf").read_bytes())
        # The address as NetSuite holds it for this customer (lines separated by <br>).
        held = sandbox.book.get("customer", cover["customer_id"]).findtext("{*}defaultAddress")
        name, street, place, country = str(held).split("<br>")
        at = drawn.index(name)
        assert drawn[at : at + 4] == [name, street, place, country], drawn[:12]
        assert drawn.count(name) == 1  # the addressee line NetSuite prints is not repeated
