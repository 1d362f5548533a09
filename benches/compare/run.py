"""sluice against dlt on the same work, on the same machine: `make bench` runs this.

Starts the local Forter-compatible API (`forter-api --cache-pages`) serving N nested orders with
`json_link` pagination, downloads the pages once (which also renders them into the server's cache,
so every tool then downloads at memory speed), times DuckDB's own `read_json` + `unnest` over the
saved pages, then loads the same listing with sluice and with dlt (default and fastest file format)
into DuckDB, Postgres and local Parquet files. Every run goes under `/usr/bin/time -v` for wall
time and peak RSS; the rows of every table are counted afterwards and must match between tools.

    python run.py --sluice BIN --forter-api BIN [--orders N] [--destinations duckdb,postgres,filesystem]
                  [--tools sluice,dlt-default,dlt-fastest] [--repeat-sluice K] [--repeat-dlt K]
                  [--work DIR] [--markdown FILE]

Postgres comes from SLUICE_TEST_POSTGRES_URL (skipped, and said so, when unset).
Exits non-zero when a run fails or the row counts of the tools differ.
"""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from base64 import b64encode
from pathlib import Path

HERE = Path(__file__).resolve().parent
API_KEY = "forter-test-api-key"
SITE_ID = "forter-test-site"
PAGE_SIZE = int(os.environ.get("BENCH_PAGE_SIZE", "1000"))
# dlt's documented fastest loader file format per destination; its default is what `run` picks.
FASTEST = {"duckdb": "parquet", "postgres": "csv", "filesystem": "parquet"}
DEFAULT_NAME = {"duckdb": "insert_values", "postgres": "insert_values", "filesystem": "jsonl"}


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def start_api(binary: str, orders: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [binary, "--orders", str(orders), "--cache-pages"],
        stdout=subprocess.PIPE,
        text=True,
    )
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        sys.exit(f"forter-api did not start (printed {url!r})")
    return proc, url


def download(url: str, save_to: Path | None) -> tuple[int, int, float]:
    """Follow `next` from the first page; returns (pages, bytes, seconds)."""
    auth = b64encode(f"{API_KEY}:".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "x-forter-siteid": SITE_ID, "api-version": "10.1"}
    nxt = f"{url}/v3/orders?page=1&page_size={PAGE_SIZE}"
    pages = size = 0
    start = time.perf_counter()
    while nxt:
        with urllib.request.urlopen(urllib.request.Request(nxt, headers=headers)) as r:
            body = r.read()
        pages += 1
        size += len(body)
        if save_to is not None:
            (save_to / f"page-{pages:06d}.json").write_bytes(body)
            nxt = json.loads(body)["next"]
        else:
            nxt = next_link(body)
    return pages, size, time.perf_counter() - start


def next_link(body: bytes) -> str | None:
    """The page's `next`: the server writes it last, so only the tail is read (parsing the whole
    page in Python would dominate the download time)."""
    tail = body[-400:].decode(errors="replace").rstrip()
    if tail.endswith('"next":null}'):
        return None
    if '"next":"' in tail and tail.endswith('"}'):
        return tail.rsplit('"next":"', 1)[1][:-2]
    return json.loads(body)["next"]


def timed(cmd: list[str], cwd: Path, env: dict) -> dict:
    """Run under /usr/bin/time -v; wall, user, sys seconds and peak RSS in MB."""
    stats = cwd / "time.txt"
    out = cwd / "output.txt"
    with open(out, "w") as o:
        rc = subprocess.call(["/usr/bin/time", "-v", "-o", str(stats), *cmd], cwd=cwd, env=env, stdout=o, stderr=o)
    text = stats.read_text()
    if rc != 0:
        tail = out.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:3])} … failed with exit code {rc}:\n{tail}")
    fields = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.strip().rsplit(":", 1) if "wall clock" not in line else line.strip().split(": ", 1)
            fields[k.strip()] = v.strip()
    wall = fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"]
    parts = [float(p) for p in wall.split(":")]
    secs = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)
    return {
        "wall": secs,
        "user": float(fields["User time (seconds)"]),
        "sys": float(fields["System time (seconds)"]),
        "rss_mb": int(fields["Maximum resident set size (kbytes)"]) / 1024,
    }


def count_duckdb(path: Path, dataset: str) -> dict:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [dataset]
        ).fetchall()
    ]
    counts = {t: con.execute(f'SELECT count(*) FROM "{dataset}"."{t}"').fetchone()[0] for t in tables}
    con.close()
    return counts


def count_postgres(url: str, dataset: str) -> dict:
    import psycopg2

    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1", [dataset]
        )
        tables = [r[0] for r in cur.fetchall()]
        counts = {}
        for t in tables:
            cur.execute(f'SELECT count(*) FROM "{dataset}"."{t}"')
            counts[t] = cur.fetchone()[0]
    return counts


def drop_postgres(url: str, dataset: str) -> None:
    import psycopg2

    con = psycopg2.connect(url)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{dataset}" CASCADE')
    con.close()


def count_files(root: Path) -> dict:
    import pyarrow.parquet as pq

    counts = {}
    for table in sorted(p for p in root.iterdir() if p.is_dir()):
        n = 0
        for f in table.rglob("*"):
            if f.name.endswith(".parquet"):
                n += pq.ParquetFile(f).metadata.num_rows
            elif ".jsonl" in f.name:  # .jsonl, or .jsonl.gz when compressed
                opener = gzip.open if _is_gzip(f) else open
                with opener(f, "rb") as fh:
                    n += sum(1 for line in fh if line.strip())
        counts[table.name] = n
    return counts


def _is_gzip(f: Path) -> bool:
    with open(f, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def data_tables(counts: dict) -> dict:
    return {t: n for t, n in counts.items() if not t.startswith("_dlt")}


def run_one(tool: str, dest: str, args, url: str, work: Path, n: int) -> dict:
    name = f"{tool}-{dest}-{n}"
    cwd = work / name
    shutil.rmtree(cwd, ignore_errors=True)
    cwd.mkdir(parents=True)
    dataset = f"bench_{tool.replace('-', '_')}_{n}"
    env = dict(os.environ)
    env.update(
        {
            "FORTER_API_KEY": API_KEY,
            "FORTER_SITE_ID": SITE_ID,
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "RUNTIME__LOG_LEVEL": "WARNING",
            "DESTINATION__FILESYSTEM__BUCKET_URL": (cwd / "lake").as_uri(),
        }
    )
    if dest == "postgres":
        # dlt insists on a password; the throwaway server trusts local connections and ignores it.
        pg_url = args.postgres_url if tool == "sluice" else with_password(args.postgres_url)
        env["DESTINATION__POSTGRES__CREDENTIALS"] = pg_url
        drop_postgres(args.postgres_url, dataset)
    if tool == "sluice":
        (cwd / "pipeline.toml").write_text(sluice_pipeline(url))
        cmd = [args.sluice, "run", "pipeline.toml", "--destination", dest, "--dataset", dataset,
               "--pipelines-dir", str(cwd / "pipelines")]
    else:
        fmt = FASTEST[dest] if tool == "dlt-fastest" else "default"
        cmd = [sys.executable, str(HERE / "dlt_pipeline.py"), url + "/", dest, dataset, fmt]
    result = timed(cmd, cwd, env)
    if dest == "duckdb":
        result["rows"] = count_duckdb(cwd / "forter_bench.duckdb", dataset)
    elif dest == "postgres":
        result["rows"] = count_postgres(args.postgres_url, dataset)
        drop_postgres(args.postgres_url, dataset)
    else:
        result["rows"] = count_files(cwd / "lake" / dataset)
    if not args.keep:
        shutil.rmtree(cwd, ignore_errors=True)
    return result


def with_password(url: str) -> str:
    """`postgresql://user@host/db` with a placeholder password (dlt requires one)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is not None or parts.username is None:
        return url
    netloc = f"{parts.username}:unused@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def sluice_pipeline(url: str) -> str:
    return f"""
[pipeline]
name = "forter_bench"

[source]
type = "rest_api"
name = "forter_bench"

[source.client]
base_url = "{url}/"
auth = {{ type = "http_basic", username = "{API_KEY}", password = "" }}
headers = {{ "x-forter-siteid" = "{SITE_ID}", "api-version" = "10.1" }}
paginator = {{ type = "json_link", next_url_path = "next" }}

[[source.resources]]
name = "orders"
endpoint = {{ path = "v3/orders", params = {{ page_size = {PAGE_SIZE} }}, data_selector = "orders" }}
"""


def label(tool: str, dest: str) -> str:
    if tool == "sluice":
        return "sluice"
    if tool == "dlt-fastest":
        return f"dlt ({FASTEST[dest]})"
    return f"dlt default ({DEFAULT_NAME[dest]})"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sluice", required=True)
    p.add_argument("--forter-api", required=True)
    p.add_argument("--orders", type=int, default=20_000)
    p.add_argument("--destinations", default="duckdb,postgres,filesystem")
    p.add_argument("--tools", default="sluice,dlt-default,dlt-fastest")
    p.add_argument("--repeat-sluice", type=int, default=3)
    p.add_argument("--repeat-dlt", type=int, default=1)
    p.add_argument("--work", default=str(HERE.parents[1] / ".bench"))
    p.add_argument("--markdown", default=None)
    p.add_argument("--keep", action="store_true", help="keep each run's output")
    p.add_argument("--postgres-url", default=os.environ.get("SLUICE_TEST_POSTGRES_URL"))
    args = p.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    tools = args.tools.split(",")
    dests = args.destinations.split(",")
    if "postgres" in dests and not args.postgres_url:
        log("SLUICE_TEST_POSTGRES_URL is not set: Postgres is left out")
        dests.remove("postgres")

    api, url = start_api(args.forter_api, args.orders)
    lines = []
    failed = False
    try:
        pages_dir = work / "pages"
        shutil.rmtree(pages_dir, ignore_errors=True)
        pages_dir.mkdir()
        log(f"rendering and saving {args.orders} orders ({PAGE_SIZE} per page) from {url}")
        pages, size, first = download(url, pages_dir)
        _, _, again = download(url, None)
        mb = size / 1e6
        log(f"{pages} pages, {mb:.1f} MB; first download (rendering) {first:.2f} s, cached download {again:.2f} s")

        results = {}
        ref = None
        if "reference" not in os.environ.get("BENCH_SKIP", ""):
            db = work / "reference.duckdb"
            db.unlink(missing_ok=True)
            cmd = [sys.executable, str(HERE / "duckdb_reference.py"), str(pages_dir), str(db)]
            ref = timed(cmd, work, dict(os.environ))
            out = json.loads((work / "output.txt").read_text().strip().splitlines()[-1])
            ref["wall"] = out["seconds"]
            ref["rows"] = out["rows"]
            db.unlink(missing_ok=True)
            log(f"DuckDB read_json + unnest: {ref['wall']:.2f} s, {ref['rss_mb']:.0f} MB")

        for dest in dests:
            for tool in tools:
                repeat = args.repeat_sluice if tool == "sluice" else args.repeat_dlt
                runs = []
                for k in range(repeat):
                    log(f"{label(tool, dest)} -> {dest} (run {k + 1}/{repeat})")
                    try:
                        runs.append(run_one(tool, dest, args, url, work, k))
                    except RuntimeError as e:
                        log(str(e))
                        failed = True
                        break
                    log(f"  {runs[-1]['wall']:.2f} s, {runs[-1]['rss_mb']:.0f} MB")
                if runs:
                    best = dict(runs[0])
                    best["wall"] = statistics.median(r["wall"] for r in runs)
                    best["walls"] = [r["wall"] for r in runs]
                    best["rss_mb"] = max(r["rss_mb"] for r in runs)
                    results[(dest, tool)] = best

        # The table.
        lines.append(
            f"{args.orders} orders, {pages} pages of {PAGE_SIZE}, {mb:.1f} MB of JSON; "
            f"cached download of all pages: {again:.2f} s"
        )
        lines.append("")
        lines.append("| destination | tool | wall s | rows/s | peak RSS MB | × sluice wall | rows (data tables) | match |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---|")
        if ref:
            total = sum(ref["rows"].values())
            lines.append(
                f"| (DuckDB) | DuckDB read_json + unnest | {ref['wall']:.2f} | {total / ref['wall']:,.0f} | "
                f"{ref['rss_mb']:.0f} | – | {total:,} | reference |"
            )
        for dest in dests:
            base = results.get((dest, "sluice"))
            base_rows = data_tables(base["rows"]) if base else None
            for tool in tools:
                r = results.get((dest, tool))
                if r is None:
                    lines.append(f"| {dest} | {label(tool, dest)} | failed | | | | | |")
                    continue
                rows = data_tables(r["rows"])
                total = sum(rows.values())
                ratio = f"{r['wall'] / base['wall']:.1f}×" if base else "–"
                match = "–" if tool == "sluice" or base_rows is None else ("yes" if rows == base_rows else "NO")
                if match == "NO":
                    failed = True
                lines.append(
                    f"| {dest} | {label(tool, dest)} | {r['wall']:.2f} | {total / r['wall']:,.0f} | "
                    f"{r['rss_mb']:.0f} | {ratio} | {total:,} | {match} |"
                )
        lines.append("")
        # Rows per table, every tool.
        cols = [(d, t) for d in dests for t in tools if (d, t) in results]
        all_tables = sorted({t for c in cols for t in data_tables(results[c]["rows"])})
        header = "| table | " + " | ".join(f"{label(t, d)} → {d}" for d, t in cols)
        if ref:
            header += " | DuckDB reference"
        lines.append(header + " |")
        lines.append("|---|" + "---:|" * (len(cols) + (1 if ref else 0)))
        for table in all_tables:
            cells = [f"{results[c]['rows'].get(table, 0):,}" for c in cols]
            if ref:
                cells.append(f"{ref['rows'][table]:,}" if table in ref["rows"] else "–")
            lines.append(f"| {table} | " + " | ".join(cells) + " |")
        for (dest, tool), r in results.items():
            rows = data_tables(r["rows"])
            base = results.get((dest, "sluice"))
            if base and rows != data_tables(base["rows"]):
                lines.append("")
                lines.append(f"ROW COUNTS DIFFER for {label(tool, dest)} → {dest}: {rows} vs sluice {data_tables(base['rows'])}")
        if any(len(r["walls"]) > 1 for r in results.values()):
            lines.append("")
            lines.append("Wall times are the median of the repeats: " + "; ".join(
                f"{label(t, d)} → {d}: " + ", ".join(f"{w:.2f}" for w in r["walls"])
                for (d, t), r in results.items() if len(r["walls"]) > 1
            ))
    finally:
        api.kill()
        api.wait()
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if failed:
        sys.exit("benchmark: a run failed or the row counts differ (see above)")


if __name__ == "__main__":
    main()
