"""A customer's view of open documents, and the running balance as payments close them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from rules.cashapp import DocumentIndex, OpenDocument

AS_OF = date(2024, 6, 28)
D = Decimal


def doc(doc_id: str, customer: str, number: str, amount: str, due: date, kind: str = "invoice",
        currency: str = "EUR") -> OpenDocument:
    return OpenDocument(doc_id, customer, number, kind, currency, D(amount), D(amount),  # type: ignore[arg-type]
                        date(2024, 5, 1), due)


def ids(docs: list[OpenDocument] | None) -> list[str]:
    return [d.doc_id for d in docs or []]


def test_namesakes_asked_about_a_number_without_an_amount_find_only_its_owners_document() -> None:
    index = DocumentIndex([
        doc("A1", "C1", "INV-100", "50", date(2024, 6, 1)),
        doc("B1", "C2", "INV-200", "70", date(2024, 6, 1)),
        doc("B2", "C2", "INV-300", "0.01", date(2024, 6, 2)),
        doc("C1", "C3", "INV-400", "70", date(2024, 6, 1)),
    ])
    index.by_key("")  # the index by number of all customers, as an unknown payer builds it
    namesakes = ["C1", "C3", "C2"]
    # Nobody's document has the number: none of them is looked at.
    assert index.first_open(namesakes, "EUR", D("0"), ["999"]) is None
    # The owner of the number is found wherever it stands among them.
    found = index.first_open(namesakes, "EUR", D("0"), ["300"])
    assert found is not None and (found[0], found[1].doc_id) == ("C2", "B2")
    # A document of the number, but in another currency, is not one.
    assert index.first_open(namesakes, "USD", D("0"), ["300"]) is None
    # Once paid, the owner has nothing open of that number any more.
    index.consume("B2", D("0.01"))
    assert index.first_open(namesakes, "EUR", D("0"), ["300"]) is None
    # With an amount, a namesake who owns none of the numbers still has an invoice of that amount.
    found = index.first_open(namesakes, "EUR", D("70"), ["999"])
    assert found is not None and (found[0], found[1].doc_id) == ("C3", "C1")


def test_namesakes_asked_about_an_amount_find_it_only_open_and_in_the_payments_currency() -> None:
    index = DocumentIndex([
        doc("A1", "C1", "INV-100", "50", date(2024, 6, 1)),
        doc("A2", "C1", "INV-101", "70", date(2024, 6, 1), currency="USD"),
        doc("B1", "C2", "INV-200", "70", date(2024, 6, 1)),
        doc("B2", "C2", "INV-300", "20", date(2024, 6, 2)),
        doc("C1", "C3", "INV-400", "80", date(2024, 6, 1)),
    ])
    namesakes = ["C1", "C3", "C2"]
    for built in (False, True):
        if built:
            index.by_key("")  # the index by number of all customers, as an unknown payer builds it
        # Nobody has a document of the amount, and no number is quoted: nobody fits.
        assert index.first_open(namesakes, "EUR", D("65"), []) is None
        assert index.first_open(namesakes, "EUR", D("65"), ["999"]) is None
        # The first namesake's document of the amount is in dollars: the one in euros is found after it.
        found = index.first_open(namesakes, "EUR", D("70"), [])
        assert found is not None and (found[0], found[1].doc_id) == ("C2", "B1")
        # No amount and no number: nothing to find.
        assert index.first_open(namesakes, "EUR", D("0"), []) is None
        # No namesake has the amount, but one owns the number quoted: it is found by the number.
        found = index.first_open(namesakes, "EUR", D("65"), ["300"])
        assert found is not None and (found[0], found[1].doc_id) == ("C2", "B2")
    # Once paid, the document of the amount is not open any more.
    index.consume("B1", D("70"))
    assert index.first_open(namesakes, "EUR", D("70"), []) is None
    assert index.first_open(namesakes, "USD", D("70"), ["999"]) == ("C1", index.get("A2"))


def test_the_open_documents_of_many_numbers_are_those_each_number_gives_in_turn() -> None:
    docs = [
        doc("A1", "C1", "INV-100", "50", date(2024, 6, 1)),
        doc("B1", "C2", "INV-101", "70", date(2024, 6, 1)),
        doc("B2", "C2", "INV-102", "20", date(2024, 6, 2)),
        doc("C1", "C3", "INV-110", "80", date(2024, 6, 1)),
    ]
    unique = DocumentIndex(docs)
    # A number two documents share: the index by number holds a list for it.
    repeated = DocumentIndex([*docs[:3], doc("C2", "C3", "INV-101", "30", date(2024, 6, 1)), docs[3]])
    numbers = ["102", "999", "101", "110", "100"]
    for index in (unique, repeated):
        index.consume("A1", D("50"))  # closed: not among the open documents any more
        each = [d.doc_id for n in numbers for d in index.by_key(n)]
        assert ids(index.by_keys(numbers)) == each
    assert ids(unique.by_keys(numbers)) == ["B2", "B1", "C1"]
    assert ids(repeated.by_keys(numbers)) == ["B2", "B1", "C2", "C1"]


def test_a_closed_document_leaves_every_view_of_its_customer_that_lists_it() -> None:
    index = DocumentIndex([
        doc("E1", "C1", "INV-1", "100", date(2024, 6, 3)),
        doc("E2", "C1", "INV-2", "40", date(2024, 6, 1)),
        doc("U1", "C1", "INV-3", "40", date(2024, 6, 2), currency="USD"),
        doc("M1", "C1", "CM-1", "10", date(2024, 6, 4), kind="credit_memo"),
    ])
    euros, dollars = index.view("C1", "EUR", AS_OF), index.view("C1", "USD", AS_OF)
    later = index.view("C1", "EUR", date(2024, 7, 31))
    assert ids(euros.any_open()) == ["E1", "E2", "M1"] and ids(euros.open_memos()) == ["M1"]
    assert ids(dollars.any_open()) == ["U1"]
    index.consume("E2", D("40"))
    index.consume("M1", D("-10"))
    index.consume("E1", D("30"))  # a part paid: still open
    assert ids(euros.any_open()) == ["E1"] and euros.open_memos() == []
    assert ids(dollars.any_open()) == ["U1"]
    # A view that had not listed its open documents yet lists what is open now.
    assert ids(later.any_open()) == ["E1"]
    assert index.get("E1").remaining == D("70")  # type: ignore[union-attr]


def test_credit_memos_follow_the_open_documents_into_age_order() -> None:
    index = DocumentIndex([
        doc("M1", "C1", "CM-1", "10", date(2024, 6, 9), kind="credit_memo"),
        doc("I1", "C1", "INV-1", "100", date(2024, 6, 5)),
        doc("M2", "C1", "CM-2", "20", date(2024, 6, 1), kind="credit_memo"),
        doc("N1", "C2", "CM-3", "30", date(2024, 6, 9), kind="credit_memo"),
        doc("J1", "C2", "INV-2", "100", date(2024, 6, 1)),
    ])
    two, one = index.view("C1", "EUR", AS_OF), index.view("C2", "EUR", AS_OF)
    assert ids(two.open_memos()) == ["M1", "M2"] and ids(one.open_memos()) == ["N1"]
    assert ids(two.open_documents()) == ["M2", "I1", "M1"]
    assert ids(two.open_memos()) == ["M2", "M1"]
    assert ids(one.open_documents()) == ["J1", "N1"] and ids(one.open_memos()) == ["N1"]
    none = DocumentIndex([doc("I2", "C3", "INV-9", "5", date(2024, 6, 9)), doc("I3", "C3", "INV-8", "5",
                                                                              date(2024, 6, 1))])
    view = none.view("C3", "EUR", AS_OF)
    assert view.open_memos() == []
    assert ids(view.open_documents()) == ["I3", "I2"] and view.open_memos() == []


def test_a_view_read_first_for_its_open_documents_lists_those_of_its_currency_issued_by_its_day() -> None:
    undated = doc("N1", "C1", "INV-5", "15", date(2024, 6, 6))
    undated.issue_date = None  # no issue date: open whatever the day
    late = doc("L1", "C1", "INV-6", "25", date(2024, 8, 1))
    late.issue_date = date(2024, 7, 15)
    index = DocumentIndex([
        doc("E1", "C1", "INV-1", "100", date(2024, 6, 3)),
        doc("U1", "C1", "INV-2", "40", date(2024, 6, 2), currency="USD"),
        undated, late,
        doc("E2", "C1", "INV-3", "60", date(2024, 6, 1)),
        doc("M1", "C1", "CM-1", "10", date(2024, 6, 4), kind="credit_memo"),
    ])
    index.consume("E2", D("60"))  # closed before the view is first read
    view = index.view("C1", "EUR", AS_OF)
    assert ids(view.any_open()) == ["E1", "N1", "M1"] and ids(view.open_memos()) == ["M1"]
    # The view's documents open or not, read afterwards, are the same day's and currency's.
    assert ids(view.settled_by_key("3")) == ["E2"] and view.has_number("1") and not view.has_number("6")
    assert ids(index.view("C1", "EUR", date(2024, 7, 31)).any_open()) == ["E1", "N1", "L1", "M1"]
