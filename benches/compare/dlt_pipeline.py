"""dlt's side of the sluice-vs-dlt benchmark: the same Forter listing through dlt's rest_api source.

    python dlt_pipeline.py BASE_URL DESTINATION DATASET [FILE_FORMAT]

DESTINATION is duckdb, postgres or filesystem; FILE_FORMAT is dlt's loader_file_format
(parquet, csv, jsonl, insert_values) or absent for dlt's default. Credentials of the destination come
from dlt's usual environment variables (DESTINATION__POSTGRES__CREDENTIALS,
DESTINATION__FILESYSTEM__BUCKET_URL); the API key and site id from FORTER_API_KEY / FORTER_SITE_ID.
The DuckDB file and the pipelines dir go to the current directory.
"""

import os
import sys

import dlt
from dlt.sources.rest_api import rest_api_source


def main() -> None:
    base_url, destination, dataset = sys.argv[1:4]
    file_format = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "default" else None
    source = rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "auth": {
                    "type": "http_basic",
                    "username": os.environ["FORTER_API_KEY"],
                    "password": "",
                },
                "headers": {
                    "x-forter-siteid": os.environ["FORTER_SITE_ID"],
                    "api-version": "10.1",
                },
                "paginator": {"type": "json_link", "next_url_path": "next"},
            },
            "resources": [
                {
                    "name": "orders",
                    "endpoint": {
                        "path": "v3/orders",
                        "params": {"page_size": int(os.environ.get("BENCH_PAGE_SIZE", "1000"))},
                        "data_selector": "orders",
                    },
                }
            ],
        },
        name="forter_bench",
    )
    pipeline = dlt.pipeline(
        pipeline_name="forter_bench",
        destination=destination,
        dataset_name=dataset,
        pipelines_dir=os.path.join(os.getcwd(), "dlt_pipelines"),
    )
    kwargs = {"loader_file_format": file_format} if file_format else {}
    info = pipeline.run(source, **kwargs)
    info.raise_on_failed_jobs()


if __name__ == "__main__":
    main()
