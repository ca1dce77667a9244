"""An admin matches a large export on a server with a second core: the payers are identified by a
second process while the documents are read, and the decisions are the ones one process makes."""

from __future__ import annotations

import csv
import os
import pickle
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.match import match_command
from rules.cashapp import MatchRules, PaymentInput, payers_ahead
from rules.cashapp.files import load_customers, load_documents, load_payments
from rules.cashapp.generator import generate
from rules.cashapp.identify import Payer, PayerHit, identify_all, payer_keys
from rules.cashapp.matcher import match_payments
from rules.cashapp.normalize import extract_number_keys
from rules.cashapp.payers_ahead import PayersAhead

AS_OF = date(2024, 6, 28)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate(600, 6000, seed=5, as_of=AS_OF).write(tmp_path_factory.mktemp("export"))


def _children() -> list[str]:
    """The processes this one started that are still running or not yet waited for."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    return [pid for task in tasks.iterdir() for pid in (task / "children").read_text().split()]


def _with_second_core(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every payments file counts as large, on a machine with two cores; what each run's second
    process brought (True when its payers were kept) is listed."""
    monkeypatch.setattr(payers_ahead, "MIN_PAYMENTS_BYTES", 0)
    monkeypatch.setattr(payers_ahead, "_cores", lambda: 2)
    # Sent in several batches (50, 100, 200, 400 of the 600 payments), as a large file's are.
    monkeypatch.setattr(payers_ahead, "FIRST_BATCH", 50)
    kept: list[bool] = []
    keep_in = PayersAhead.keep_in

    def spy(self: PayersAhead, *args: object) -> bool:
        kept.append(keep_in(self, *args))  # type: ignore[arg-type]
        return kept[-1]

    monkeypatch.setattr(PayersAhead, "keep_in", spy)
    return kept


@pytest.fixture
def second_core(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    return _with_second_core(monkeypatch)


def _match(files: dict[str, Path], out: Path) -> str:
    result = CliRunner().invoke(match_command, [
        "--invoices", str(files["invoices"]), "--payments", str(files["payments"]),
        "--customers", str(files["customers"]), "--as-of", AS_OF.isoformat(), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_a_large_export_is_decided_alike_with_its_payers_identified_alongside(
        export: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _match(export, tmp_path / "alone.jsonl")
    assert alone.count("\n") == 600

    kept = _with_second_core(monkeypatch)
    alongside = _match(export, tmp_path / "alongside.jsonl")

    assert kept == [True]
    assert alongside == alone
    assert not _children()


def test_remittance_advices_add_to_the_numbers_sent_alongside(
        export: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with export["invoices"].open(encoding="utf-8") as fh:
        invoices = [(row["customer_id"], row["number"], row["open_amount"]) for row in csv.DictReader(fh)]
    with export["payments"].open(encoding="utf-8") as fh:
        payments = [row for row in csv.DictReader(fh) if row["customer_id"]][:40]
    # Each of those payers sends an advice: the first invoice of its customer, in full.
    first_of: dict[str, tuple[str, str]] = {}
    for customer_id, number, amount in invoices:
        first_of.setdefault(customer_id, (number, amount))
    advices = tmp_path / "advices.csv"
    advices.write_text("payment_id,invoice_number,amount\n" + "".join(
        f"{row['payment_id']},{first_of[row['customer_id']][0]},{first_of[row['customer_id']][1]}\n"
        for row in payments), encoding="utf-8")

    def match(out: Path) -> str:
        result = CliRunner().invoke(match_command, [
            "--invoices", str(export["invoices"]), "--payments", str(export["payments"]),
            "--customers", str(export["customers"]), "--as-of", AS_OF.isoformat(),
            "--remittance", str(advices), "--out", str(out)])
        assert result.exit_code == 0, result.output
        return out.read_text(encoding="utf-8")

    alone = match(tmp_path / "alone.jsonl")
    assert alone.count('"remittance_advice"') >= 20
    kept = _with_second_core(monkeypatch)
    assert match(tmp_path / "alongside.jsonl") == alone
    assert kept == [True]
    assert not _children()


def test_a_small_export_is_matched_in_one_process(export: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payers_ahead, "_cores", lambda: 2)
    assert PayersAhead.start(export["customers"], export["payments"], MatchRules()) is None
    assert PayersAhead.start(None, export["payments"], MatchRules()) is None


def test_a_payments_file_changed_while_it_was_read_is_identified_again(
        export: dict[str, Path], tmp_path: Path, second_core: list[bool]) -> None:
    payments = tmp_path / "payments.csv"
    payments.write_text(export["payments"].read_text(encoding="utf-8"), encoding="utf-8")
    customers = load_customers(export["customers"])
    with export["customers"].open(encoding="utf-8") as fh:
        known_id, known_name = next(csv.reader(list(fh)[1:]))[:2]
    rules = MatchRules()

    ahead = PayersAhead.start(export["customers"], payments, rules)
    assert ahead is not None
    with payments.open("a", encoding="utf-8") as fh:  # the export is written again meanwhile
        fh.write(f"LATE-1,2024-06-27,100.00,USD,,{known_name},,\n")
    read = load_payments(payments)
    assert ahead.keep_in(customers, read, rules) is False

    # The run identifies the payers itself, the one added after the other process read the file too.
    results = list(match_payments(read, load_documents(export["invoices"]), customers, rules, AS_OF))
    assert results[-1].payment_id == "LATE-1"
    assert results[-1].customer_id == known_id
    assert not _children()


def test_a_bad_payments_row_is_reported_with_its_line_while_the_others_are_matched(
        export: dict[str, Path], tmp_path: Path, second_core: list[bool]) -> None:
    lines = export["payments"].read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(3, "BAD-1,2024-06-27,twelve,USD,,Somebody,,INV-1\n")
    files = {**export, "payments": tmp_path / "payments.csv"}
    files["payments"].write_text("".join(lines), encoding="utf-8")

    result = CliRunner().invoke(match_command, [
        "--invoices", str(files["invoices"]), "--payments", str(files["payments"]),
        "--customers", str(files["customers"]), "--as-of", AS_OF.isoformat(),
        "--out", str(tmp_path / "m.jsonl")])

    assert result.exit_code == 2, result.output
    assert f"{files['payments']}:4" in result.output
    written = (tmp_path / "m.jsonl").read_text(encoding="utf-8")
    assert written.count("\n") == 600 and "BAD-1" not in written
    # The second process read the file as the run did, bad row left out, so its payers were kept.
    assert second_core == [True]
    assert not _children()


def _dies_after_first_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second process sends its header and one batch of payers, then nothing more."""
    received = PayersAhead._next
    came: list[object] = []

    def dies_after_first_batch(self: PayersAhead) -> object:
        if len(came) == 2:
            self.close()
            return None
        came.append(received(self))
        return came[-1]

    monkeypatch.setattr(PayersAhead, "_next", dies_after_first_batch)


def test_a_second_process_that_stops_midway_leaves_the_rest_to_the_run(
        export: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _match(export, tmp_path / "alone.jsonl")
    kept = _with_second_core(monkeypatch)
    _dies_after_first_batch(monkeypatch)
    # What the process did not send is identified by the run, all together.
    batches: list[int] = []
    identify_all = payers_ahead.identify_all

    def identify_here(payments: list[PaymentInput], *args: Any) -> list[Payer]:
        batches.append(len(payments))
        return identify_all(payments, *args)

    monkeypatch.setattr(payers_ahead, "identify_all", identify_here)
    assert _match(export, tmp_path / "cut.jsonl") == alone
    assert kept == [True]
    # All but those of the first batch (the 50 decided first), and those paying under one of their keys.
    incoming = [p for p in load_payments(export["payments"]) if p.amount > 0]
    sent = set(payer_keys(sorted(incoming, key=lambda p: p.date)[:50]))
    assert batches == [sum(key not in sent for key in payer_keys(incoming))]
    assert not _children()


def test_payers_that_tie_have_rivals_or_a_note_reach_the_run_as_identified_there(
        export: dict[str, Path], second_core: list[bool]) -> None:
    rules = MatchRules()
    incoming = [p for p in load_payments(export["payments"]) if p.amount > 0]
    here = dict(zip(payer_keys(incoming), identify_all(incoming, load_customers(export["customers"]), rules),
                    strict=True))
    # The export has payer names two customers share, names other customers fit too, and payers
    # nobody could be chosen for, with the reason why.
    assert any(p.ties and p.note for p in here.values())
    assert any(p.hit is not None and p.rivals for p in here.values())
    assert {p.hit.source for p in here.values() if p.hit} == {
        "customer_id", "bank_account", "name", "name_in_reference"}
    assert any(p.hit is None and not p.note for p in here.values())

    customers = load_customers(export["customers"])
    ahead = PayersAhead.start(export["customers"], export["payments"], rules)
    assert ahead is not None
    with ahead:
        assert ahead.keep_in(customers, load_payments(export["payments"]), rules)
        # Asked in the order the run decides them, then again in any other order.
        in_order = payer_keys(sorted(incoming, key=lambda p: p.date))
        for key in [*in_order, *reversed(in_order)]:
            assert customers.prepared_payer(key, rules) == here[key]
    assert not _children()


def test_a_payer_whose_texts_hold_the_separator_is_sent_as_it_is() -> None:
    odd = PayerHit("C\x00 1", 0.95, "customer C\x00 1 given with the payment", "customer_id")
    tie = Payer(None, "payer name 'X' fits customers A and B equally well, so neither is chosen",
                [(90.0, "A"), (90.0, "B")])
    by_name = Payer(PayerHit("C2", 0.8, "customer C2 (Two) by payer name 'TWO' (similarity 91)", "name"),
                    rivals=[(75.0, "C3")])
    found = [Payer(odd), tie, by_name, Payer(None)]
    number_keys = [("102788",), (), ("2024", "42", "202400042"), ("١٢٣٤",)]

    positions, received, keys = payers_ahead._decoded(pickle.loads(pickle.dumps(
        payers_ahead._encoded([7, 3, 5, 1], found, number_keys))))

    assert positions == [7, 3, 5, 1]
    assert received == found
    assert keys == [list(k) for k in number_keys]
    assert payers_ahead._decoded(payers_ahead._encoded([], [], [])) == ([], [], [])


def _with_odd_payments(export: dict[str, Path], folder: Path) -> Path:
    """The export's payments and a few more: numbers a scanner misread or written in another script, a
    reference with dates and amounts, and none at all."""
    payments = folder / "payments.csv"
    payments.write_text(export["payments"].read_text(encoding="utf-8") + "".join([
        "ODD-3,2024-06-04,310.00,EUR,,Somebody,,INV-1O27B8 inv 1O2788\n",
        "ODD-4,2024-06-27,99.00,EUR,,Somebody,,Rechnung ١٠٢٧٨٨\n",
        'ODD-5,2024-06-27,1190.00,EUR,,Somebody,,"paid 06.03.2024 EUR 1.190,00 inv 1001/1002 2024-00042"\n',
        "ODD-6,2024-06-01,50.00,EUR,,Somebody,,\n",
    ]), encoding="utf-8")
    return payments


def _with_refunds(payments: list[PaymentInput]) -> list[PaymentInput]:
    """``payments`` as a caller hands them over, with refunds among them (not money received)."""
    refund = replace(payments[0], payment_id="REFUND-1", amount=Decimal("-120.00"), reference="INV-102788")
    return [refund, *payments[:3], replace(refund, payment_id="REFUND-2", amount=Decimal(0)), *payments[3:]]


def _keys_sent(ahead: PayersAhead, incoming: list[PaymentInput]) -> list[list[str]]:
    """The number keys the run takes from ``ahead``, asked for in the order it decides the payments."""
    assert ahead.reference_keys is not None
    sent: dict[int, list[str]] = {}
    for i in sorted(range(len(incoming)), key=lambda i: incoming[i].date):
        sent[i] = list(ahead.reference_keys(i))
    return [sent[i] for i in range(len(incoming))]


def _keys_here(incoming: list[PaymentInput], rules: MatchRules) -> list[list[str]]:
    return [extract_number_keys(p.reference, rules.number_min_digits) if p.amount > 0 else []
            for p in incoming]


def test_the_numbers_each_reference_quotes_come_with_its_payer_as_the_run_reads_them(
        export: dict[str, Path], tmp_path: Path, second_core: list[bool]) -> None:
    rules = MatchRules()
    payments = _with_odd_payments(export, tmp_path)
    incoming = _with_refunds(load_payments(payments))
    here = _keys_here(incoming, rules)
    assert here[:5] == [[], *here[1:4], []]
    assert here[-4:] == [["1027", "102788"], ["١٠٢٧٨٨"], [
        "1001", "10011002", "100110022024", "1002", "10022024", "1002202400042", "2024", "202400042"], []]

    ahead = PayersAhead.start(export["customers"], payments, rules)
    assert ahead is not None
    with ahead:
        assert ahead.keep_in(load_customers(export["customers"]), incoming, rules)
        assert _keys_sent(ahead, incoming) == here
    assert not _children()


def test_numbers_a_second_process_stopping_midway_did_not_send_are_read_by_the_run(
        export: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = MatchRules()
    payments = _with_odd_payments(export, tmp_path)
    incoming = _with_refunds(load_payments(payments))
    _with_second_core(monkeypatch)
    _dies_after_first_batch(monkeypatch)
    read_here: list[int] = []
    extract_all = payers_ahead.extract_number_keys_all

    def extract_here(texts: list[str | None], *args: Any) -> list[tuple[str, ...]]:
        read_here.append(len(texts))
        return extract_all(texts, *args)

    monkeypatch.setattr(payers_ahead, "extract_number_keys_all", extract_here)

    ahead = PayersAhead.start(export["customers"], payments, rules)
    assert ahead is not None
    with ahead:
        assert ahead.keep_in(load_customers(export["customers"]), incoming, rules)
        assert _keys_sent(ahead, incoming) == _keys_here(incoming, rules)
    # The 50 receipts decided first came with the first batch; the others' were read here, together.
    assert read_here == [sum(p.amount > 0 for p in incoming) - 50]
    assert not _children()
