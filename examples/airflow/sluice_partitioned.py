"""A partitioned sluice run on Airflow: N mapped tasks each extract one share of the work
(`sluice run --partition K/N`), then one task loads all their packages (`sluice commit`).

The workers need the `sluice` binary on PATH and a pipelines dir they all share (a network
volume mounted at the same path on every worker), since each partition leaves its package
there for the commit. Secrets come as environment variables with dlt's names, here from Airflow
Variables; any secrets backend works the same way.

Retries are safe: a partition retried with the same run id (Airflow's `run_id`) does nothing
once it made its package, and a retried commit loads only what is left.
"""

from __future__ import annotations

import pendulum
from airflow.decorators import dag, task
from airflow.operators.bash import BashOperator

PIPELINE_FILE = "/opt/sluice/bank.toml"
PIPELINES_DIR = "/mnt/shared/sluice/pipelines"
PARTITIONS = 4

ENV = {
    "SLUICE_PIPELINES_DIR": PIPELINES_DIR,
    "SOURCES__BANK__TOKEN": "{{ var.value.bank_api_token }}",
    "DESTINATION__POSTGRES__CREDENTIALS": "{{ var.value.warehouse_postgres_url }}",
}


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2024, 6, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one run at a time: a run's commit takes the partitions' packages
    tags=["sluice"],
)
def sluice_bank_partitioned():
    @task
    def partition_ids() -> list[str]:
        """The partitions K/N, one mapped task each."""
        return [f"{k}/{PARTITIONS}" for k in range(PARTITIONS)]

    extract = BashOperator.partial(
        task_id="extract_partition",
        env=ENV,
        append_env=True,
        retries=3,
        max_active_tis_per_dagrun=PARTITIONS,
    ).expand(
        bash_command=partition_ids().map(
            lambda part: (
                f"sluice run {PIPELINE_FILE} --partition {part} "
                "--run-id '{{ run_id }}'"
            )
        )
    )

    commit = BashOperator(
        task_id="commit",
        bash_command=f"sluice commit {PIPELINE_FILE} --partitions {PARTITIONS}",
        env=ENV,
        append_env=True,
        retries=3,
    )

    extract >> commit


sluice_bank_partitioned()
