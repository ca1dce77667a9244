"""The cash-application state in the store, on SQLite and PostgreSQL, and its upgrade path."""

from __future__ import annotations

from pathlib import Path

from mapping import Stream
from store import StateStore
from store.cashapp import CashAppState
from tests.store.test_state_store import invoice


def _store_at(store_url: str, revision: str) -> StateStore:
    from alembic import command
    from alembic.config import Config

    import store.state as state

    engine = state.create_engine(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(state.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return StateStore(engine)


def test_a_store_from_before_the_review_queue_upgrades_and_keeps_its_data(store_url: str) -> None:
    old = _store_at(store_url, "0004")
    old.save_page("acme", Stream.INVOICES, [invoice("1")])
    old.save_match_result(
        "acme",
        "P1",
        status="review",
        customer_id="C1",
        confidence=0.8,
        rule="amount_single",
        result={"payment_id": "P1", "applications": []},
    )
    old.close()

    upgraded = StateStore.open(store_url)
    state = CashAppState(upgraded)
    assert upgraded.count_records("acme") == {"invoices": 1}
    assert state.match_result("acme", "P1")["status"] == "review"  # type: ignore[index]
    assert state.learn("acme", "C1", "bank_account", "DE44 5001", payment_id="P1", by="anna")
    assert not state.learn("acme", "C1", "bank_account", "DE44 5001", payment_id="P2", by="ben")
    assert state.learned("acme") == {"C1": {"bank_account": ["DE44 5001"], "name": []}}
    upgraded.close()


def test_two_verdicts_on_one_review_item_cannot_both_win(store_url: str) -> None:
    store = StateStore.open(store_url)
    state = CashAppState(store)
    store.save_match_result(
        "acme", "P1", status="review", customer_id="C1", confidence=0.8, rule="r", result={"payment_id": "P1"}
    )
    assert state.close_review("acme", "P1", status="accepted", result={"customer_id": "C1"}, by="anna")
    assert not state.close_review("acme", "P1", status="rejected", result={}, by="ben")
    store.save_match_result(
        "acme", "P1", status="review", customer_id="C2", confidence=0.7, rule="r", result={}
    )
    assert state.match_result("acme", "P1")["status"] == "accepted"  # type: ignore[index]
    assert state.decided_by_clerk("acme") == {"P1"}
    store.close()


def test_a_statement_is_imported_once_and_overlapping_lines_are_kept_once(store_url: str) -> None:
    store = StateStore.open(store_url)
    state = CashAppState(store)
    line = {"payment_id": "L1", "date": "2024-06-27", "amount": "10.00", "currency": "EUR"}
    assert state.import_statement("acme", "a" * 64, file_name="s1.xml", fmt="camt053", lines=[line]) == 1
    known = state.statement("acme", "a" * 64)
    assert known is not None
    assert (known["status"], known["file_name"], known["lines"]) == ("imported", "s1.xml", 1)
    other = {**line, "payment_id": "L2"}
    assert (
        state.import_statement("acme", "b" * 64, file_name="s2.xml", fmt="camt053", lines=[line, other]) == 1
    )
    assert [x["payment_id"] for x in state.bank_lines("acme")] == ["L1", "L2"]
    assert (
        state.import_statement("acme", "c" * 64, file_name="bad.xml", fmt=None, lines=[], reason="broken")
        == 0
    )
    assert [q["reason"] for q in store.quarantined("acme")] == ["broken"]
    store.close()


def test_a_forgotten_alias_is_gone_and_the_others_stay(store_url: str) -> None:
    store = StateStore.open(store_url)
    state = CashAppState(store)
    state.learn("acme", "C1", "bank_account", "DE44 5001", payment_id="P1", by="anna")
    state.learn("acme", "C1", "name", "M.M. VERTRIEB", payment_id="P1", by="anna")
    state.learn("acme", "C2", "bank_account", "DE44 5001", payment_id="P7", by=None)
    state.learn("other", "C1", "bank_account", "DE44 5001", payment_id="P9", by="ben")
    listed = [(r["customer_id"], r["kind"], r["value"], r["payment_id"], r["learned_by"])
              for r in state.learned_aliases("acme")]  # fmt: skip
    assert listed == [
        ("C1", "bank_account", "DE44 5001", "P1", "anna"),
        ("C1", "name", "M.M. VERTRIEB", "P1", "anna"),
        ("C2", "bank_account", "DE44 5001", "P7", None),
    ]
    assert all(r["learned_at"] for r in state.learned_aliases("acme"))

    assert state.forget("acme", "C1", "bank_account", ["DE44 5001", "DE00"]) == ["DE44 5001"]
    assert state.forget("acme", "C1", "bank_account", ["DE44 5001"]) == []
    assert state.learned("acme") == {
        "C1": {"bank_account": [], "name": ["M.M. VERTRIEB"]},
        "C2": {"bank_account": ["DE44 5001"], "name": []},
    }
    assert state.learned("other") == {"C1": {"bank_account": ["DE44 5001"], "name": []}}
    store.close()
