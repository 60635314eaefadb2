"""Per-table statistics in a database stream's description: the JSON text's shape, exact counts under a
million estimated rows, estimates above (real PostgreSQL and MariaDB servers, and unit checks)."""

from __future__ import annotations

import json
import uuid

from resguardo.sources.addresses import parse_address
from resguardo.sources.mysql import MysqlSource
from resguardo.sources.postgresql import PostgresSource
from resguardo.sources.tablestats import TableStats, mysql_stats, postgres_stats
from tests.fixtures.mariadb import MariadbServer
from tests.fixtures.postgres import PostgresCluster
from tests.sources.conftest import fill_mysql_database, fill_pg_database, pg_connect, pg_url


def test_the_description_holds_sorted_compact_json_text_and_an_integer_flag() -> None:
    stats = TableStats(
        {"public.b": {"rows": 2, "bytes": 8192}, "public.a": {"rows": 1, "bytes": 16384}}, False
    )
    description = stats.description()
    assert description == {
        "tables": '{"public.a":{"bytes":16384,"rows":1},"public.b":{"bytes":8192,"rows":2}}',
        "tables_exact": 0,
    }
    assert all(isinstance(value, str | int) for value in description.values())
    assert TableStats().description() == {"tables": "{}", "tables_exact": 1}


def test_postgresql_answers_are_read_from_json_text_or_parsed() -> None:
    answer = {"tables": {"s.t": {"rows": 3, "bytes": 10}}, "exact": True}
    assert (
        postgres_stats(json.dumps(answer))
        == postgres_stats(answer)
        == TableStats({"s.t": {"rows": 3, "bytes": 10}})
    )


def test_mysql_counts_exactly_below_a_million_and_keeps_larger_estimates() -> None:
    asked: list[str] = []

    def query(statement: str) -> list[str]:
        asked.append(statement)
        if "information_schema" in statement:
            return ["shop\tsmall\t90\t4096", "shop\thuge\t2500000\t900000000"]
        return ["0\t97"]

    stats = mysql_stats(query, ["shop", "empty"])
    assert stats["shop"].tables == {
        "shop.small": {"rows": 97, "bytes": 4096},
        "shop.huge": {"rows": 2500000, "bytes": 900000000},
    }
    assert stats["shop"].exact is False and stats["empty"] == TableStats()
    assert "`shop`.`small`" in asked[1] and "huge" not in asked[1]


def test_postgresql_tables_are_counted_exactly_unless_the_planner_expects_a_million_rows(
    pg_server: PostgresCluster,
) -> None:
    name = f"stats_{uuid.uuid4().hex[:8]}"
    fill_pg_database(pg_server, name, rows=100)
    with PostgresSource(parse_address(pg_url(pg_server))) as source:
        exact = source.table_stats(name)
        assert exact.exact and exact.tables["public.customers"]["rows"] == 100
        assert exact.tables["public.orders"]["rows"] == 300 and exact.tables["public.orders"]["bytes"] > 0
        with pg_connect(pg_server, name) as connection:
            connection.execute("UPDATE pg_class SET reltuples = 5000000 WHERE relname = 'orders'")
        estimated = source.table_stats(name)
    assert not estimated.exact and estimated.tables["public.orders"]["rows"] == 5000000
    assert estimated.tables["public.customers"]["rows"] == 100


def test_mariadb_streams_describe_their_tables(mariadb_server: MariadbServer) -> None:
    name = f"stats_{uuid.uuid4().hex[:8]}"
    fill_mysql_database(mariadb_server, name, rows=40)
    with MysqlSource(parse_address(mariadb_server.url()), [name]) as source:
        [stream] = [stream for stream in source.streams() if stream.description.get("database") == name]
    tables = json.loads(str(stream.description["tables"]))
    assert tables[f"{name}.customers"]["rows"] == 40 and tables[f"{name}.audit"]["rows"] == 40
    assert stream.description["tables_exact"] == 1
