"""The demo's ERP: the local QuickBooks Online sandbox, kept between demo runs in the state folder.

The sandbox's company (records, SyncTokens, ``requestid`` replies) is saved when the demo ends and
restored by ``--resume``, so the incremental cycle sees the first run's write-backs and only the
activity simulated since.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectors.base import KeyValueStore
from sandboxes.demo import DemoERP
from sandboxes.quickbooks.server import QuickBooksSandbox

_COMPANY_STATE = (
    "tables",
    "order",
    "tombstones",
    "custom_fields",
    "next_txn_id",
    "next_list_id",
    "next_doc_number",
)


def _save(sandbox: QuickBooksSandbox, path: Path) -> None:
    company = sandbox.company
    with company.lock:
        state = {name: getattr(company, name) for name in _COMPANY_STATE}
        state["replies"] = dict(sandbox._replies)
        data = pickle.dumps(state)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _restore(sandbox: QuickBooksSandbox, path: Path) -> None:
    # The file is one the demo itself wrote into its own state folder.
    state: dict[str, Any] = pickle.loads(path.read_bytes())
    company = sandbox.company
    with company.lock:
        for name in _COMPANY_STATE:
            setattr(company, name, state[name])
        sandbox._replies.update(state.get("replies", {}))


def _least_recently_edited(sandbox: QuickBooksSandbox, n: int) -> list[str]:
    """Open invoices nobody touched for the longest time: each --resume edits other ones."""
    rows = sandbox.company.tables["Invoice"]
    open_ones = [
        (rec["MetaData"]["LastUpdatedTime"], int(i), i)
        for i, rec in rows.items()
        if float(rec.get("Balance", 0)) > 0
    ]
    return [ident for _, _, ident in sorted(open_ones)[:n]]


def _consent(sandbox: QuickBooksSandbox) -> Callable[[KeyValueStore], None]:
    """What `arbridge auth quickbooks --refresh-token` does: store a token the sandbox just issued.

    The sandbox starts afresh each run and knows none of the earlier run's tokens, so each run
    authorizes again, as an admin would after reconnecting the app.
    """

    def authorize(state: KeyValueStore) -> None:
        from connectors.quickbooks.auth import TokenManager

        tokens = TokenManager(
            state,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            token_url=sandbox.token_url,
        )
        tokens.store_refresh_token(sandbox.issue_refresh_token())

    return authorize


@contextmanager
def local_erp(state_dir: Path, *, resume: bool, echo: Callable[[str], None]) -> Iterator[DemoERP]:
    snapshot = state_dir / "quickbooks-sandbox.pickle"
    restoring = resume and snapshot.exists()
    sandbox = QuickBooksSandbox(seed="empty" if restoring else "demo")
    if restoring:
        _restore(sandbox, snapshot)
    sandbox.start()
    try:
        if restoring:
            touched = _least_recently_edited(sandbox, 2)
            for invoice_id in touched:
                sandbox.touch("Invoice", invoice_id)
            echo(f"Simulated ERP activity: invoices {', '.join(touched)} edited in QuickBooks")
        yield DemoERP(
            kind="quickbooks",
            name="QuickBooks",
            connection={
                "name": "demo-quickbooks",
                "connector": "quickbooks",
                "settings": {
                    "base_url": sandbox.base_url,
                    "token_url": sandbox.token_url,
                    "auth_url": sandbox.authorize_url,
                    "realm_id": sandbox.realm_id,
                    "client_id": sandbox.client_id,
                    "client_secret": sandbox.client_secret,
                    "collection_status_field_id": "1",
                    "verify_tls": True,
                },
                "write_back": {"enabled": True},
            },
            describe=f"QuickBooks Online sandbox at {sandbox.base_url} (realm {sandbox.realm_id})",
            authorize=_consent(sandbox),
            where_written=f"the sandbox company, saved in {snapshot}",
        )
    finally:
        sandbox.stop()
        _save(sandbox, snapshot)
