"""camt.053, MT940 and BAI2 readers on hand-made statements in each format's published layout."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from rules.cashapp.bank import (
    StatementError,
    read_bai2,
    read_camt053,
    read_mt940,
    read_statement,
    sniff_format,
)

DATA = Path(__file__).parent / "data"


def test_camt053_v02_keeps_booked_credits_and_splits_a_batch_booking() -> None:
    payments = read_camt053(DATA / "camt053_v02_sparkasse.xml")
    assert [p.payment_id for p in payments] == ["2024062700001", "2024062700003-1", "2024062700003-2"]
    first = payments[0]
    assert (first.amount, first.currency, first.date) == (Decimal("1190.00"), "EUR", date(2024, 6, 27))
    assert first.payer_name == "Mueller Maschinenbau GmbH"
    assert first.payer_account == "DE89370400440532013000"
    assert first.reference == "RE 2024-1001 KD 4711"
    assert sum(p.amount for p in payments[1:]) == Decimal("2737.32")


def test_camt053_skips_debits_reversals_and_pending_entries() -> None:
    amounts = [p.amount for p in read_camt053(DATA / "camt053_v02_sparkasse.xml")]
    assert Decimal("25.00") not in amounts  # bank charge (DBIT)
    assert Decimal("380.00") not in amounts  # returned direct debit (RvslInd)
    assert Decimal("99.00") not in amounts  # pending (PDNG)


def test_camt053_structured_remittance_and_creditor_reference_become_the_reference() -> None:
    batch = read_camt053(DATA / "camt053_v02_sparkasse.xml")[1]
    assert batch.reference is not None
    assert "INV-100231" in batch.reference and "RF18539007547034" in batch.reference


def test_camt053_v08_reads_party_names_other_account_ids_and_status_codes() -> None:
    payments = read_camt053(DATA / "camt053_v08_bank.xml")
    trade = payments[0]
    assert (trade.payment_id, trade.amount, trade.currency) == ("FP-9913382011", Decimal("4810.50"), "GBP")
    assert trade.payer_name == "Turner Packaging Ltd"
    assert trade.payer_account == "40-47-84 70872490"
    assert payments[1].reference == "CREDIT INTEREST JUNE"


def test_camt053_of_any_version_from_02_to_08_is_accepted() -> None:
    raw = (DATA / "camt053_v08_bank.xml").read_bytes()
    for version in range(2, 9):
        text = raw.replace(b"camt.053.001.08", f"camt.053.001.0{version}".encode())
        assert len(read_camt053(text)) == 2


def test_camt052_or_broken_xml_is_refused_with_a_message() -> None:
    raw = (DATA / "camt053_v08_bank.xml").read_bytes().replace(b"camt.053.001.08", b"camt.052.001.08")
    with pytest.raises(StatementError, match="namespace"):
        read_camt053(raw)
    with pytest.raises(StatementError, match="well-formed"):
        read_camt053(b"<Document><BkToCstmrStmt>")


def test_mt940_german_structured_details_give_name_account_and_purpose() -> None:
    payments = read_mt940(DATA / "mt940_german_structured.sta")
    assert [p.amount for p in payments] == [
        Decimal("1190.00"),
        Decimal("2500.00"),
    ]  # the fee debit is skipped
    first = payments[0]
    assert first.payer_name == "Mueller Maschinenbau GmbH"
    assert first.payer_account == "DE89370400440532013000"
    assert first.reference == "RE 2024-1001 KD 4711"
    assert first.date == date(2024, 6, 27)


def test_mt940_swift_keyword_details_give_name_account_and_remittance() -> None:
    payments = read_mt940(DATA / "mt940_swift_keys.sta")
    assert len(payments) == 1
    payment = payments[0]
    assert (payment.payer_name, payment.payer_account) == ("WEBER ELEKTROTECHNIK", "NL20INGB0001234567")
    assert payment.reference == "INVOICE 100244 EN 100245"
    assert payment.payment_id == "B4F27PGHJ8XX"


def test_bai2_keeps_detail_credits_scaled_to_cents_with_originator_names() -> None:
    payments = read_bai2(DATA / "bai2_lockbox_ach.bai")
    assert [(p.payment_id, p.amount) for p in payments] == [
        ("ACH0627001", Decimal("1190.00")),
        ("FED0627001", Decimal("4550.00")),
        ("LBX0627001", Decimal("134.12")),
    ]
    assert [p.payer_name for p in payments] == [
        "ACME INDUSTRIAL SUPPLY",
        "TURNER PACKAGING INC",
        "PARKER CHEMICALS CORP",
    ]
    assert all(p.currency == "USD" and p.date == date(2024, 6, 27) for p in payments)
    assert payments[0].reference is not None and "INV-100123" in payments[0].reference


def test_bai2_with_wrong_control_totals_is_refused() -> None:
    raw = (DATA / "bai2_lockbox_ach.bai").read_bytes().replace(b"49,11351324", b"49,11351325")
    with pytest.raises(StatementError, match="BAI2"):
        read_bai2(raw)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("camt053_v02_sparkasse.xml", "camt053"),
        ("mt940_german_structured.sta", "mt940"),
        ("mt940_swift_keys.sta", "mt940"),
        ("bai2_lockbox_ach.bai", "bai2"),
    ],
)
def test_statement_format_is_told_by_content_not_by_file_name(name: str, kind: str) -> None:
    raw = (DATA / name).read_bytes()
    assert sniff_format(raw[:4096]) == kind
    assert read_statement(DATA / name)
