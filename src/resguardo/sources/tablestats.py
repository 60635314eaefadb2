"""Per-table statistics of a dumped database, recorded in its stream's description.

A database stream's description gains ``"tables"``, a JSON text (descriptions hold only texts and
integers) of the form ``{"schema.table": {"rows": N, "bytes": N}}``, keys sorted, and ``"tables_exact"``:
1 when every row count is exact, else 0. A table whose planner estimate is under
:data:`EXACT_COUNT_BELOW` rows is counted exactly (``count(*)``); a larger one keeps the estimate.
``bytes`` is PostgreSQL's ``pg_total_relation_size`` (table, indexes and TOAST), or MySQL's
``data_length + index_length``. For MySQL and MariaDB the schema is the database itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resguardo.core.errors import SourceError

EXACT_COUNT_BELOW = 1_000_000
MYSQL_COUNTS_PER_QUERY = 200

POSTGRES_TABLES_SQL = f"""
SELECT json_build_object(
  'tables', coalesce(json_object_agg(name, json_build_object('rows', rows, 'bytes', bytes)), '{{}}'),
  'exact', coalesce(bool_and(exact), true))
FROM (
  SELECT n.nspname || '.' || c.relname AS name,
         c.reltuples < {EXACT_COUNT_BELOW} AS exact,
         CASE WHEN c.reltuples < {EXACT_COUNT_BELOW}
           THEN (xpath('/row/c/text()', query_to_xml(
                  format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]
                  ::text::bigint
           ELSE c.reltuples::bigint END AS rows,
         pg_total_relation_size(c.oid) AS bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
) AS t
"""  # noqa: S608 - constants only, no input
"""One row, one JSON column: ``{"tables": {...}, "exact": true|false}`` for the connected database."""


@dataclass(slots=True)
class TableStats:
    """The tables of one database: ``{"schema.table": {"rows": N, "bytes": N}}`` and whether all counts
    are exact."""

    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    exact: bool = True

    def description(self) -> dict[str, str | int]:
        """Return the two fields of a stream description: ``tables`` (JSON text) and ``tables_exact``."""
        text = json.dumps(self.tables, sort_keys=True, separators=(",", ":"))
        return {"tables": text, "tables_exact": int(self.exact)}


def postgres_stats(document: Any) -> TableStats:
    """Return the statistics :data:`POSTGRES_TABLES_SQL` gave (its JSON, parsed or as text).

    Raises:
        SourceError: the answer is not of that shape.
    """
    if isinstance(document, str):
        document = json.loads(document)
    try:
        tables = {
            str(name): {"rows": int(values["rows"]), "bytes": int(values["bytes"])}
            for name, values in dict(document["tables"]).items()
        }
        return TableStats(tables, bool(document["exact"]))
    except (KeyError, TypeError, ValueError) as error:
        raise SourceError(f"the server's table statistics are malformed: {error}") from None


def quote_mysql(name: str) -> str:
    """Return a MySQL identifier in backquotes."""
    return "`" + name.replace("`", "``") + "`"


def quote_mysql_text(text: str) -> str:
    """Return a MySQL string literal (backslashes and quotes escaped)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def mysql_stats(query: Callable[[str], list[str]], databases: list[str]) -> dict[str, TableStats]:
    """Return the statistics of each of ``databases`` (every one present, possibly with no table).

    Args:
        query: runs SQL and returns its output lines, tab-separated columns (the client's batch mode).
        databases: the databases dumped.

    Raises:
        SourceError: a query failed.
    """
    result = {database: TableStats() for database in databases}
    if not databases:
        return result
    names = ", ".join(quote_mysql_text(name) for name in databases)
    lines = query(
        "SELECT table_schema, table_name, COALESCE(table_rows, 0), "  # noqa: S608 - quoted literals
        "COALESCE(data_length, 0) + COALESCE(index_length, 0) FROM information_schema.tables "
        f"WHERE table_type = 'BASE TABLE' AND table_schema IN ({names}) ORDER BY table_schema, table_name"
    )
    to_count: list[tuple[str, str]] = []
    for line in lines:
        schema, table, rows, size = line.split("\t")
        stats = result[schema]
        stats.tables[f"{schema}.{table}"] = {"rows": int(rows), "bytes": int(size)}
        if int(rows) < EXACT_COUNT_BELOW:
            to_count.append((schema, table))
        else:
            stats.exact = False
    for start in range(0, len(to_count), MYSQL_COUNTS_PER_QUERY):
        _count_exactly(query, result, to_count[start : start + MYSQL_COUNTS_PER_QUERY])
    return result


def _count_exactly(
    query: Callable[[str], list[str]], result: Mapping[str, TableStats], tables: list[tuple[str, str]]
) -> None:
    """Replace the estimates of ``tables`` by exact counts (one UNION ALL query)."""
    parts = [
        f"SELECT {index}, COUNT(*) FROM {quote_mysql(schema)}.{quote_mysql(table)}"  # noqa: S608
        for index, (schema, table) in enumerate(tables)
    ]
    for line in query(" UNION ALL ".join(parts)):
        index, count = (int(value) for value in line.split("\t"))
        schema, table = tables[index]
        result[schema].tables[f"{schema}.{table}"]["rows"] = count
