"""DuckDB's own JSON reader on the same pages, as a near-the-limit reference.

    python duckdb_reference.py PAGES_DIR DATABASE_FILE

Reads every saved page with read_json, unnests the orders and their lists into one table each (the
tables dlt's layout has), and prints the seconds the SQL took and the rows per table as JSON.
Python's start-up and `import duckdb` are not counted.
"""

import json
import sys
import time

import duckdb

TABLES = {
    "orders": "SELECT unnest(o, recursive := true) FROM raw",
    "orders__cart_items": "SELECT o.orderId AS order_id, unnest(o.cartItems, recursive := true) FROM raw",
    "orders__payment": "SELECT o.orderId AS order_id, unnest(o.payment, recursive := true) FROM raw",
    "orders__primary_recipient__phone": (
        "SELECT o.orderId AS order_id, unnest(o.primaryRecipient.phone, recursive := true) FROM raw"
    ),
    "orders__recommendations": "SELECT o.orderId AS order_id, unnest(o.recommendations) AS value FROM raw",
}


def main() -> None:
    pages, database = sys.argv[1:3]
    con = duckdb.connect(database)
    start = time.perf_counter()
    con.execute(
        f"CREATE TEMP TABLE raw AS SELECT unnest(orders) AS o "
        f"FROM read_json('{pages}/*.json', maximum_object_size = 1073741824)"
    )
    for table, sql in TABLES.items():
        con.execute(f"CREATE TABLE {table} AS {sql}")
    seconds = time.perf_counter() - start
    counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    print(json.dumps({"seconds": seconds, "rows": counts}))


if __name__ == "__main__":
    main()
