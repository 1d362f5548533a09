//! The command-line arguments (clap types only; `main.rs` dispatches them).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// sluice loads REST APIs and JSON files into DuckDB, Postgres, BigQuery, Snowflake and
/// Parquet lakes, in the same layout and with the same config as dlt.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). `SLUICE_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline file (TOML): a `[pipeline]` section and a `[source]` (rest_api).
    Run(RunArgs),
    /// Validate a pipeline file, its destination config and connection, and the source's
    /// credentials (Forter: `GET /credentials/test`) without loading anything.
    Check(CheckArgs),
    /// Load JSON (array, object or concatenated objects) or JSON Lines files into a table.
    LoadFile(LoadFileArgs),
    /// List the destinations compiled into this build (`describe NAME`: its config keys,
    /// capabilities and an example config).
    Destinations(DestinationsArgs),
    /// Inspect and manage a pipeline: info, show, schema, trace, load-package, sync, drop,
    /// drop-pending-packages.
    Pipeline(PipelineArgs),
    /// Run SQL against a pipeline's dataset and print the result.
    Query(QueryArgs),
    /// Load the packages of every partition of a partitioned run (`sluice run --partition`).
    Commit(crate::partition::CommitArgs),
}

/// Arguments shared by commands that run a pipeline.
#[derive(Debug, Args, Clone)]
pub struct RunTarget {
    /// Destination name (see `sluice destinations`).
    #[arg(long, default_value = "duckdb")]
    pub destination: String,
    /// Dataset (schema) name; default `<pipeline_name>_data`.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Pipeline name.
    #[arg(long, default_value = "sluice_pipeline")]
    pub pipeline_name: String,
    /// Folder of pipeline working dirs (default `~/.sluice/pipelines`, or `SLUICE_PIPELINES_DIR`).
    #[arg(long, env = "SLUICE_PIPELINES_DIR")]
    pub pipelines_dir: Option<PathBuf>,
}

/// Write dispositions.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Disposition {
    /// Add rows.
    Append,
    /// Replace the table's rows.
    Replace,
    /// Merge on the primary key (delete-insert).
    Merge,
}

/// Schema contract modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Contract {
    /// Grow the schema.
    Evolve,
    /// Fail on any new table, column or type.
    Freeze,
    /// Drop rows that would change the schema.
    DiscardRow,
    /// Drop values that would change the schema.
    DiscardValue,
}

/// `sluice load-file`.
#[derive(Debug, Args)]
pub struct LoadFileArgs {
    /// Files to load (.json or .jsonl / .ndjson).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Table (resource) name.
    #[arg(long)]
    pub table: String,
    #[command(flatten)]
    pub target: RunTarget,
    /// How rows are written.
    #[arg(long, value_enum, default_value = "append")]
    pub write_disposition: Disposition,
    /// Primary key column(s), comma separated (source names).
    #[arg(long, value_delimiter = ',')]
    pub primary_key: Vec<String>,
    /// Maximum depth of nested tables (0: no nested tables, nested data stored as JSON).
    #[arg(long)]
    pub max_table_nesting: Option<u32>,
    /// What happens when data does not fit the schema.
    #[arg(long, value_enum)]
    pub schema_contract: Option<Contract>,
}

/// `sluice run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    pub pipeline_file: PathBuf,
    /// Destination name; wins over `[pipeline] destination`.
    #[arg(long)]
    pub destination: Option<String>,
    /// Dataset name; wins over `[pipeline] dataset`.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Pipeline name; wins over `[pipeline] name`.
    #[arg(long)]
    pub pipeline_name: Option<String>,
    /// Folder of pipeline working dirs.
    #[arg(long, env = "SLUICE_PIPELINES_DIR")]
    pub pipelines_dir: Option<PathBuf>,
    /// Start over: forget local state (incremental cursors) and load into a new dataset
    /// named `<dataset>_<timestamp>` (dlt's dev mode).
    #[arg(long)]
    pub full_refresh: bool,
    /// When another run of this pipeline holds its lock, wait up to SECONDS for it to finish
    /// instead of stopping at once.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// Extract and normalize only the K-th (0-based) of N shares of the work into a package,
    /// without loading it; `sluice commit FILE --partitions N` loads them all.
    #[arg(long, value_name = "K/N", env = crate::partition::PARTITION_ENV)]
    pub partition: Option<String>,
    /// With --partition: the orchestrator's run id; a partition that made its package for this
    /// run id already does nothing.
    #[arg(long, value_name = "ID", requires = "partition")]
    pub run_id: Option<String>,
}

/// `sluice check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The pipeline file (TOML).
    pub pipeline_file: PathBuf,
    /// Destination name; wins over `[pipeline] destination`.
    #[arg(long)]
    pub destination: Option<String>,
    /// Dataset name; wins over `[pipeline] dataset`.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Pipeline name; wins over `[pipeline] name`.
    #[arg(long)]
    pub pipeline_name: Option<String>,
}

/// `sluice pipeline NAME …`.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    /// Pipeline name.
    pub name: String,
    /// Folder of pipeline working dirs.
    #[arg(long, env = "SLUICE_PIPELINES_DIR", global = true)]
    pub pipelines_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: PipelineCommand,
}

/// Pipeline subcommands.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// State, schemas and packages of the pipeline.
    Info,
    /// The pipeline's dashboard in the browser: overview, schema, data with a SQL box, state,
    /// loads and the last run's trace (served on 127.0.0.1 until Ctrl-C).
    Show {
        /// First rows to show per table.
        #[arg(long, default_value_t = 3)]
        rows: usize,
        /// Port to listen on (default: a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Print the URL without opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// Write the dashboard as static files into DIR instead of serving it.
        #[arg(long, value_name = "DIR", conflicts_with = "text")]
        export: Option<std::path::PathBuf>,
        /// Print the tables with row counts and their first rows as text instead.
        #[arg(long)]
        text: bool,
    },
    /// The schema as YAML (or JSON).
    Schema {
        /// Output format.
        #[arg(long, default_value = "yaml")]
        format: SchemaFormat,
        /// Schema name (default: the pipeline's default schema).
        #[arg(long)]
        schema: Option<String>,
    },
    /// The last run's trace.
    Trace,
    /// A load package (default: the newest).
    LoadPackage {
        /// Load id.
        load_id: Option<String>,
    },
    /// Load packages left pending by an interrupted run.
    LoadPending,
    /// Restore state and schemas from the destination (also onto a machine that never ran the
    /// pipeline: give --destination and --dataset).
    Sync(SyncArgs),
    /// Drop resources or tables from the destination, the schema and the state, so that the
    /// next run loads them again from the start.
    Drop(DropArgs),
    /// Delete packages that were not loaded.
    DropPendingPackages,
}

/// `sluice pipeline NAME sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Destination to restore from; needed when the pipeline never ran here, else the one of
    /// its last run.
    #[arg(long)]
    pub destination: Option<String>,
    /// Dataset to restore from (default: the pipeline's, else `<name>_data`).
    #[arg(long, alias = "dataset-name")]
    pub dataset: Option<String>,
}

/// `sluice pipeline NAME drop`.
#[derive(Debug, Args)]
pub struct DropArgs {
    /// Resources to drop (also as --resources r1,r2).
    #[arg(value_name = "RESOURCE")]
    pub resource_names: Vec<String>,
    /// Resources to drop: their tables with nested tables, and their state.
    #[arg(long, value_delimiter = ',')]
    pub resources: Vec<String>,
    /// Tables to drop, each with its nested tables (a root table resets its resource's state).
    #[arg(long, value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Dotted paths in the source state to remove (`resources.orders.incremental`).
    #[arg(long, value_delimiter = ',')]
    pub state_paths: Vec<String>,
    /// Drop every resource of the schema.
    #[arg(long)]
    pub drop_all: bool,
    /// Only reset the state: keep tables and schema.
    #[arg(long)]
    pub state_only: bool,
    /// Schema to drop from (default: the pipeline's default schema).
    #[arg(long)]
    pub schema: Option<String>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
}

/// Schema output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// `sluice query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Pipeline name.
    pub pipeline: String,
    /// SQL to run; `{dataset}` is replaced by the quoted dataset name.
    pub sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: QueryFormat,
    /// Write the result to FILE (written whole, then renamed into place) instead of stdout;
    /// needed for parquet.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Folder of pipeline working dirs.
    #[arg(long, env = "SLUICE_PIPELINES_DIR")]
    pub pipelines_dir: Option<PathBuf>,
}

/// Output formats of `sluice query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryFormat {
    /// A pretty table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per line (the same as jsonl).
    Json,
    /// One JSON object per line.
    Jsonl,
    /// A Parquet file (with --output).
    Parquet,
}

/// `sluice destinations [describe NAME]`.
#[derive(Debug, Args)]
pub struct DestinationsArgs {
    /// What to do (default: list them).
    #[command(subcommand)]
    pub command: Option<DestinationsCommand>,
}

/// Subcommands of `sluice destinations`.
#[derive(Debug, Subcommand)]
pub enum DestinationsCommand {
    /// The config keys, capabilities and an example config of one destination.
    Describe {
        /// Destination name.
        name: String,
    },
}
