"""Reading the newest rows of a table through the control storage interface."""

from __future__ import annotations

from collections.abc import Sequence

from keyark.control.database import Row, Transaction
from keyark.state.database import newest_query


def newest_rows(
    db: Transaction,
    table: str,
    filters: Sequence[tuple[str, object]],
    limit: int | None = None,
) -> list[Row]:
    """The rows :func:`keyark.state.database.newest_query` selects, oldest first by ``id``."""
    query, parameters = newest_query(table, filters, limit)
    return list(reversed(db.execute(query, parameters)))
