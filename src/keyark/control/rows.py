"""Reading the newest rows of a table through the control storage interface."""

from __future__ import annotations

from collections.abc import Sequence

from keyark.control.database import Row, Transaction


def newest_rows(
    db: Transaction,
    table: str,
    filters: Sequence[tuple[str, object]],
    limit: int | None = None,
) -> list[Row]:
    """Rows of ``table`` matching every ``(clause, value)`` filter whose value is not None
    (each clause holds one ``?``), oldest first by ``id``; ``limit`` keeps the newest ones.

    ``table`` and the clauses are the caller's fixed text; only the values are parameters.
    """
    given = [(clause, value) for clause, value in filters if value is not None]
    where = f"WHERE {' AND '.join(c for c, _ in given)}" if given else ""
    query = f"SELECT * FROM {table} {where} ORDER BY id DESC"  # noqa: S608 (fixed text)
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return list(reversed(db.execute(query, [value for _, value in given])))
