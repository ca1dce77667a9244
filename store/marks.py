"""What each rule last read up to (``rule_marks``): a cycle's rules read what changed since."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from store import schema as t
from store.state import StateStore, now, ts

__all__ = ["RuleMarks"]


class RuleMarks:
    """One JSON value per connection and rule, written in the transaction of the rule's last decision."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def get(self, connection: str, rule: str) -> dict[str, Any] | None:
        """The rule's mark, or None before its first complete run."""
        m = t.rule_marks
        with self.store.engine.connect() as conn:
            value = conn.execute(
                sa.select(m.c.value).where(m.c.connection == connection, m.c.rule == rule)
            ).scalar()
        return None if value is None else dict(json.loads(value))

    def put(
        self, connection: str, rule: str, value: dict[str, Any], *, conn: Connection | None = None
    ) -> None:
        """Replace the rule's mark (on ``conn``: with what the rule writes alongside)."""
        with self.store._tx(conn) as c:
            self.store._upsert(
                c,
                t.rule_marks,
                {"connection": connection, "rule": rule, "value": json.dumps(value), "updated_at": ts(now())},
                ["connection", "rule"],
                ["value", "updated_at"],
            )

    def clear(self, connection: str, rule: str | None = None) -> int:
        """Forget the marks (of one rule or all): the next cycle's rules read everything again."""
        m = t.rule_marks
        q = sa.delete(m).where(m.c.connection == connection)
        if rule is not None:
            q = q.where(m.c.rule == rule)
        with self.store.engine.begin() as conn:
            return int(conn.execute(q).rowcount or 0)
