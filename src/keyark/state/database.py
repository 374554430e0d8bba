"""The newest-rows query the control-database stores share (run history, alerts).

The stores themselves live in the control database (:mod:`keyark.control`);
:func:`keyark.control.rows.newest_rows` runs this query through its interface.
"""

from __future__ import annotations

from collections.abc import Sequence


def newest_query(
    table: str, filters: Sequence[tuple[str, object]], limit: int | None = None
) -> tuple[str, list[object]]:
    """The query (newest first) and parameters for the rows of ``table`` matching every
    ``(clause, value)`` filter whose value is not None (each clause holds one ``?``);
    ``limit`` keeps the newest ones.

    ``table`` and the clauses are the caller's fixed text; only the values are parameters.
    """
    given = [(clause, value) for clause, value in filters if value is not None]
    where = f"WHERE {' AND '.join(c for c, _ in given)}" if given else ""
    query = f"SELECT * FROM {table} {where} ORDER BY id DESC"  # noqa: S608 (fixed text)
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return query, [value for _, value in given]
