"""Several processes serving the workspace on one store: one refreshes the overview's sums each period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from mapping.models import Invoice, Stream
from service.workspace import Workspace
from store import StateStore
from store import schema as t
from store.insights import ar_aggregates, refresh_turn

EVERY_S = 60.0


def invoice(rid: str, amount: str) -> Invoice:
    return Invoice(
        remote_id=rid,
        customer_remote_id="C1",
        currency="EUR",
        issue_date=date(2026, 11, 1),
        due_date=date(2026, 12, 1),
        total=Decimal(amount),
        open_amount=Decimal(amount),
        remote_modified_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


@pytest.fixture
def stores(store_url: str) -> Iterator[list[StateStore]]:
    """Three processes' own handles on one store."""
    opened = [StateStore.open(store_url) for _ in range(3)]
    yield opened
    for s in opened:
        s.close()


def workspaces(stores: list[StateStore]) -> list[Workspace]:
    deployment = SimpleNamespace(connections=[SimpleNamespace(name="acme")])
    return [Workspace(store=s, deployment=deployment) for s in stores]


def open_total(store: StateStore) -> Decimal:
    return sum(
        (amount for (_, _), (_, amount) in ar_aggregates(store, "acme").open_by_due.items()), Decimal(0)
    )


def test_of_three_workspaces_one_refreshes_and_another_takes_over_once_the_sums_age(
    stores: list[StateStore],
) -> None:
    first, second, third = workspaces(stores)
    stores[0].save_page("acme", Stream.INVOICES, [invoice("I1", "100.00"), invoice("I2", "20.50")])

    assert first.refresh_sums_unless_fresh(EVERY_S) == 2
    # The two others start and find the sums just brought up to date: they read nothing.
    assert second.refresh_sums_unless_fresh(EVERY_S) is None
    assert third.refresh_sums_unless_fresh(EVERY_S) is None
    assert open_total(stores[2]) == Decimal("120.50")

    # The first process stops; a new invoice comes in, and a period goes by without a round.
    stores[1].save_page("acme", Stream.INVOICES, [invoice("I3", "7.25")])
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with stores[1].transaction() as conn:
        conn.execute(
            sa.update(t.workspace_settings)
            .where(t.workspace_settings.c.key == "insights:round")
            .values(value=an_hour_ago)
        )

    assert second.refresh_sums_unless_fresh(EVERY_S) is not None
    assert third.refresh_sums_unless_fresh(EVERY_S) is None
    assert open_total(stores[2]) == Decimal("127.75")


@pytest.mark.postgres
def test_a_workspace_leaves_the_round_to_the_process_doing_it(postgres_url: str) -> None:
    doing, waiting = StateStore.open(postgres_url), StateStore.open(postgres_url)
    try:
        [_, second] = workspaces([doing, waiting])
        doing.save_page("acme", Stream.INVOICES, [invoice("I1", "100.00")])
        with refresh_turn(doing, fresh_for=timedelta(seconds=EVERY_S)) as mine:
            assert mine
            assert second.refresh_sums_unless_fresh(EVERY_S) is None
        assert open_total(waiting) == Decimal(0)  # the second read nothing while the first held the round
    finally:
        doing.close()
        waiting.close()
