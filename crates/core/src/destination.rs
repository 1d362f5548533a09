//! The destination contract: a factory that validates config and connects, and a running
//! destination that applies schema changes, writes table chains and commits loads.
//!
//! The pipeline drives a load like this, for one package:
//!
//! 1. [`Destination::initialize`] creates the dataset and the system tables when missing;
//! 2. [`Destination::is_loaded`] says whether the package's load id is already recorded in
//!    `_dlt_loads` (then nothing is written again);
//! 3. [`Destination::begin_load`], [`Destination::apply_schema_changes`], one
//!    [`Destination::write_chain`] per root table, then [`Destination::commit_load`] which
//!    records the load, the schema version and the state. On any error the pipeline calls
//!    [`Destination::abort_load`] and keeps the package pending.
//!
//! Transactional destinations make steps 3 all-or-nothing. Others make each step idempotent
//! per load id (deterministic file names, job ids), so that a repeated load does not duplicate.

use crate::capabilities::Capabilities;
use crate::config::ConfigSection;
use crate::error::{Error, Result};
use crate::schema::{MergeStrategy, Schema, SchemaChange, Table, WriteDisposition};
use crate::system_tables::{self, SqlRunner};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything a factory needs to validate and connect: names and the destination's config section.
#[derive(Debug, Clone)]
pub struct DestinationConfig {
    /// The registry name of the destination (`duckdb`, `postgres`, …).
    pub destination_name: String,
    /// The pipeline name (DuckDB names its default database after it).
    pub pipeline_name: String,
    /// The dataset (schema) to load into.
    pub dataset_name: String,
    /// The working directory of the run, where default local files go.
    pub working_dir: PathBuf,
    /// The merged `[destination.<name>]` section.
    pub section: ConfigSection,
}

impl DestinationConfig {
    /// The dotted path of the destination's section for messages (`destination.duckdb`), also
    /// when the section was built without one (by a test or an embedding program).
    pub fn section_path(&self) -> String {
        match self.section.path() {
            "" => format!("destination.{}", self.destination_name),
            path => path.to_string(),
        }
    }
}

/// A destination config that passed [`DestinationFactory::validate`]: the names and section it
/// came from, plus the destination's own typed settings, parsed once. `connect` consumes it,
/// so a destination never parses its section twice and never connects with settings that were
/// not checked.
#[derive(Clone)]
pub struct ValidatedConfig {
    config: DestinationConfig,
    settings: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for ValidatedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The settings may hold secrets and are not required to be `Debug`: only names show.
        f.debug_struct("ValidatedConfig")
            .field("destination", &self.config.destination_name)
            .field("dataset", &self.config.dataset_name)
            .finish_non_exhaustive()
    }
}

impl ValidatedConfig {
    /// Wrap the typed `settings` a destination parsed from `config`.
    pub fn new<T: Any + Send + Sync>(config: DestinationConfig, settings: T) -> Self {
        Self {
            config,
            settings: Arc::new(settings),
        }
    }

    /// Parse `config` with a destination's settings parser (`validate` in one line:
    /// `ValidatedConfig::parse(config, MySettings::resolve)`).
    pub fn parse<T: Any + Send + Sync>(
        config: &DestinationConfig,
        parse: impl FnOnce(&DestinationConfig) -> Result<T>,
    ) -> Result<Self> {
        Ok(Self::new(config.clone(), parse(config)?))
    }

    /// The config it was validated from.
    pub fn config(&self) -> &DestinationConfig {
        &self.config
    }

    /// The typed settings. An error (not a panic) when `T` is not the type the factory's
    /// `validate` stored: a config validated by one factory was given to another.
    pub fn settings<T: Any + Send + Sync>(&self) -> Result<&T> {
        self.settings.downcast_ref::<T>().ok_or_else(|| {
            Error::internal(format!(
                "the config of destination {} was validated by another destination's factory",
                self.config.destination_name
            ))
        })
    }
}

/// A destination factory: registered by name, validates config without I/O, and connects.
///
/// `validate` is pure: it parses the `[destination.<name>]` section into the destination's
/// typed settings (rejecting unknown keys with their path) and returns them in a
/// [`ValidatedConfig`]; `connect` takes that value and does the I/O. A factory implements
/// `name`, `capabilities`, `validate` and `connect`; the rest has defaults.
#[async_trait]
pub trait DestinationFactory: Send + Sync {
    /// The registry name (`duckdb`, `postgres`, …).
    fn name(&self) -> &str;

    /// What this destination supports and how it differs.
    fn capabilities(&self) -> Capabilities;

    /// Check the configuration without any I/O and parse it into the destination's settings.
    /// The error names each missing, unknown or wrong setting and how to provide it.
    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig>;

    /// Open a connection to the destination with settings `validate` returned.
    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>>;

    /// The keys it reads in `[destination.<name>]` and in its `credentials` table (for
    /// `sluice destinations describe`; `validate` rejects any other). Empty by default.
    fn config_keys(&self) -> ConfigKeys {
        ConfigKeys::default()
    }

    /// An example of its config, as TOML for `.sluice/secrets.toml` (for `sluice destinations
    /// describe`). Empty by default.
    fn example_config(&self) -> &'static str {
        ""
    }
}

/// Conveniences over [`DestinationFactory`], for every factory.
#[async_trait]
pub trait DestinationFactoryExt: DestinationFactory {
    /// [`validate`](DestinationFactory::validate) then [`connect`](DestinationFactory::connect).
    async fn open(&self, config: &DestinationConfig) -> Result<Box<dyn Destination>> {
        let validated = self.validate(config)?;
        self.connect(&validated).await
    }
}

impl<T: DestinationFactory + ?Sized> DestinationFactoryExt for T {}

/// A factory whose settings are one Rust type: it implements only what differs between
/// destinations (the settings parser, how to open with them, the capabilities, the keys) and
/// gets [`DestinationFactory`] from the blanket impl below, which stores the settings in the
/// [`ValidatedConfig`] and hands them back to [`TypedFactory::open`]. Every built-in
/// destination's factory is one; a factory may also implement `DestinationFactory` directly.
///
/// ```
/// use async_trait::async_trait;
/// use sluice_core::{
///     Capabilities, ConfigSection, Destination, DestinationConfig, DestinationFactory, Error,
///     Result, TypedFactory,
/// };
///
/// /// The settings of `[destination.mine]`: one folder.
/// struct MySettings {
///     folder: String,
/// }
///
/// struct MyFactory;
///
/// #[async_trait]
/// impl TypedFactory for MyFactory {
///     const NAME: &'static str = "mine";
///     const CAPABILITIES: fn() -> Capabilities = Capabilities::default;
///     type Settings = MySettings;
///
///     fn parse(&self, config: &DestinationConfig) -> Result<MySettings> {
///         let folder = config.section.get_str("folder").ok_or_else(|| {
///             Error::config(format!("{}.folder is missing", config.section_path()))
///         })?;
///         Ok(MySettings { folder })
///     }
///
///     async fn open(&self, s: &MySettings, _: &DestinationConfig) -> Result<Box<dyn Destination>> {
///         Err(Error::not_implemented(format!("a destination writing to {}", s.folder)))
///     }
/// }
///
/// let config = |section: &str| DestinationConfig {
///     destination_name: "mine".into(),
///     pipeline_name: "p".into(),
///     dataset_name: "d".into(),
///     working_dir: ".".into(),
///     section: ConfigSection::from_table("destination.mine", toml::from_str(section).unwrap()),
/// };
/// // DestinationFactory comes from the blanket impl: the name, and settings parsed once.
/// assert_eq!(MyFactory.name(), "mine");
/// assert!(MyFactory.validate(&config("folder = \"out\"")).is_ok());
/// let missing = MyFactory.validate(&config("")).err().unwrap().to_string();
/// assert!(missing.contains("destination.mine.folder is missing"), "{missing}");
/// ```
#[async_trait]
pub trait TypedFactory: Send + Sync {
    /// The registry name (`duckdb`, `postgres`, …).
    const NAME: &'static str;
    /// What this destination supports and how it differs.
    const CAPABILITIES: fn() -> Capabilities;
    /// An example of its config, as TOML (for `sluice destinations describe`).
    const EXAMPLE_CONFIG: &'static str = "";
    /// The settings `parse` returns and `open` takes.
    type Settings: Any + Send + Sync;

    /// Parse `[destination.<name>]` into the settings, without I/O; unknown keys are refused
    /// with their path.
    fn parse(&self, config: &DestinationConfig) -> Result<Self::Settings>;

    /// Connect with settings `parse` returned; `config` is what they were parsed from (its
    /// dataset and pipeline names).
    async fn open(
        &self,
        settings: &Self::Settings,
        config: &DestinationConfig,
    ) -> Result<Box<dyn Destination>>;

    /// The keys `parse` accepts (for `sluice destinations describe`). Empty by default.
    fn keys(&self) -> ConfigKeys {
        ConfigKeys::default()
    }
}

#[async_trait]
impl<F: TypedFactory> DestinationFactory for F {
    fn name(&self) -> &str {
        F::NAME
    }

    fn capabilities(&self) -> Capabilities {
        (F::CAPABILITIES)()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        ValidatedConfig::parse(config, |c| self.parse(c))
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        self.open(config.settings::<F::Settings>()?, config.config())
            .await
    }

    fn config_keys(&self) -> ConfigKeys {
        self.keys()
    }

    fn example_config(&self) -> &'static str {
        F::EXAMPLE_CONFIG
    }
}

/// The config keys a destination reads.
#[derive(Debug, Clone, Default)]
pub struct ConfigKeys {
    /// Keys of `[destination.<name>]` (besides `credentials`).
    pub settings: Vec<&'static str>,
    /// Keys of `[destination.<name>.credentials]`.
    pub credentials: Vec<&'static str>,
}

impl ConfigKeys {
    /// The keys of the section and those of its credentials table (given as several lists,
    /// say a destination's own and a key file's).
    pub fn new(settings: &[&'static str], credentials: &[&[&'static str]]) -> Self {
        Self {
            settings: settings.to_vec(),
            credentials: credentials.concat(),
        }
    }
}

/// One table of a load: its current schema and the package files holding its rows.
#[derive(Debug, Clone)]
pub struct TableJob {
    /// The table as it is in the package's schema.
    pub table: Table,
    /// Parquet files of this table in the package (may be empty: the table got no rows).
    pub files: Vec<PathBuf>,
    /// Rows in those files.
    pub rows: u64,
}

/// How a chain is written. It is [`WriteDisposition`] without `Skip`: the pipeline never
/// passes a skipped table to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainDisposition {
    /// Add the rows.
    Append,
    /// Replace the chain's rows with these (an empty chain empties the tables).
    Replace,
    /// Merge by key, with the chain's [`MergeStrategy`].
    Merge,
}

impl ChainDisposition {
    /// The disposition a table's write disposition loads with; `None` for `Skip`.
    pub fn of(disposition: WriteDisposition) -> Option<Self> {
        match disposition {
            WriteDisposition::Append => Some(Self::Append),
            WriteDisposition::Replace => Some(Self::Replace),
            WriteDisposition::Merge => Some(Self::Merge),
            WriteDisposition::Skip => None,
        }
    }
}

/// A root table with its nested tables, written together under one disposition.
#[derive(Debug, Clone)]
pub struct ChainJob {
    /// The load id of the package.
    pub load_id: String,
    /// How the chain is written.
    pub disposition: ChainDisposition,
    /// How a merge is carried out (when `disposition` is merge).
    pub merge_strategy: MergeStrategy,
    /// The root table.
    pub root: TableJob,
    /// Its nested tables (all that exist in the schema), parents before children.
    pub nested: Vec<TableJob>,
    /// The name of the package's schema (the source name), for file layouts and messages.
    pub schema_name: String,
    /// A folder the destination owns for this package, for records that must survive a
    /// retried load (BigQuery keeps the ids of its load jobs there). It is the same folder on
    /// every attempt to load the package and goes away with the package; it may not exist yet.
    /// A destination never writes anywhere else in the package.
    pub scratch_dir: PathBuf,
}

impl ChainJob {
    /// Root then nested tables.
    pub fn tables(&self) -> impl Iterator<Item = &TableJob> {
        std::iter::once(&self.root).chain(self.nested.iter())
    }

    /// Total rows in the chain.
    pub fn rows(&self) -> u64 {
        self.tables().map(|t| t.rows).sum()
    }
}

/// A pipeline state snapshot stored with a load (`_dlt_pipeline_state`).
#[derive(Debug, Clone, PartialEq)]
pub struct StateRecord {
    /// Pipeline name.
    pub pipeline_name: String,
    /// State version (bumped when the state changes).
    pub version: u64,
    /// Hash of the state content.
    pub version_hash: String,
    /// The state as JSON.
    pub state: serde_json::Value,
    /// When the state was created (RFC 3339).
    pub created_at: String,
}

/// What `commit_load` records together with the data.
#[derive(Debug, Clone)]
pub struct LoadCommit {
    /// The load id.
    pub load_id: String,
    /// The schema of the package (written to `_dlt_version` when its hash is new).
    pub schema: Schema,
    /// The state to store, when it changed.
    pub state: Option<StateRecord>,
}

/// A connected destination bound to one dataset.
///
/// # The load contract
///
/// The pipeline loads one package at a time, in this order, and a destination may rely on it:
///
/// 1. [`is_loaded`](Self::is_loaded) — when the load id is recorded, nothing else is called for
///    it (a package whose commit succeeded but whose local bookkeeping did not is never loaded
///    twice);
/// 2. [`begin_load`](Self::begin_load) — open the transaction, where there is one;
/// 3. [`stored_schema`](Self::stored_schema), then
///    [`apply_schema_changes`](Self::apply_schema_changes) with what differs (changes that exist
///    already must be tolerated: a retried load applies them again);
/// 4. [`write_chain`](Self::write_chain) once per root table that has rows (or is replaced).
///    The pipeline has already checked the chain against the capabilities: its merge strategy
///    is one of [`Capabilities::merge_strategies`] (or the list is empty and the destination
///    appends), an upsert has a primary key, no table is wider than
///    [`Capabilities::max_columns_per_table`], and a `Skip` chain is never passed. The files are
///    the package's Parquet files, complete and immutable; a destination reads them and never
///    writes next to them;
/// 5. [`commit_load`](Self::commit_load) — record the load, the schema and the state with the
///    data: after it returns, [`is_loaded`](Self::is_loaded) must answer true, and before it
///    returns, readers should see none of the load where the destination can promise that
///    ([`Capabilities::supports_transactions`]). On any error in 2–5 the pipeline calls
///    [`abort_load`](Self::abort_load) and keeps the package pending; the next run starts
///    again at 1, so every step must be safe to repeat.
///
/// A destination only has to implement the required methods; [`check`](Self::check),
/// [`abort_load`](Self::abort_load), [`drop_tables`](Self::drop_tables) and
/// [`query`](Self::query) have defaults (the last two answer with
/// [`ErrorKind::NotImplemented`](crate::ErrorKind::NotImplemented)).
#[async_trait]
pub trait Destination: Send {
    /// Capabilities (the same as the factory's).
    fn capabilities(&self) -> &Capabilities;

    /// Where data goes, for people: no secrets (a path, a redacted URL).
    fn location(&self) -> String;

    /// The destination's SQL, when it speaks SQL (see [`crate::system_tables`]): then `check`,
    /// `initialize`, `is_loaded`, `stored_schema` and `stored_state` need no code of their own.
    /// `None` by default: a destination without it implements those five.
    fn sql_runner(&mut self) -> Option<&mut dyn SqlRunner> {
        None
    }

    /// Verify that the destination is reachable and the credentials work. The default runs
    /// `SELECT 1` through [`sql_runner`](Self::sql_runner), or trusts `connect` to have done so.
    async fn check(&mut self) -> Result<()> {
        match self.sql_runner() {
            Some(r) => system_tables::check(r).await,
            None => Ok(()),
        }
    }

    /// Create the dataset and the system tables when missing.
    async fn initialize(&mut self) -> Result<()> {
        system_tables::initialize(needs_sql(self.sql_runner(), "initialize")?).await
    }

    /// Whether `load_id` is recorded as completed in `_dlt_loads`.
    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        system_tables::is_loaded(needs_sql(self.sql_runner(), "is_loaded")?, load_id).await
    }

    /// Start loading a package (opens the transaction where supported).
    async fn begin_load(&mut self, load_id: &str) -> Result<()>;

    /// Create tables and add columns. Must tolerate changes that already exist.
    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()>;

    /// Write a root table and its nested tables under the chain's disposition.
    /// Returns the number of rows written.
    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64>;

    /// Record the load (`_dlt_loads`), the schema (`_dlt_version`) and the state, and commit.
    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()>;

    /// Roll back what `begin_load` started, where possible. The default does nothing (a
    /// destination without transactions leaves what it wrote for the retried load to replace).
    async fn abort_load(&mut self) -> Result<()> {
        Ok(())
    }

    /// The newest stored schema named `schema_name`.
    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        let r = needs_sql(self.sql_runner(), "stored_schema")?;
        system_tables::stored_schema(r, schema_name).await
    }

    /// The newest state of `pipeline_name` from a completed load.
    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        let r = needs_sql(self.sql_runner(), "stored_state")?;
        system_tables::stored_state(r, pipeline_name).await
    }

    /// Drop tables of the dataset (missing ones are ignored).
    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        Err(Error::not_implemented(format!(
            "this destination cannot drop tables ({} asked for)",
            tables.join(", ")
        )))
    }

    /// Run a SQL query and return the result as Arrow batches.
    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        let _ = sql;
        Err(Error::not_implemented(
            "this destination cannot run SQL queries",
        ))
    }
}

/// The destination's SQL for a default method, or the error of a destination that has neither
/// implemented `method` nor given a [`SqlRunner`].
fn needs_sql<'a>(
    runner: Option<&'a mut dyn SqlRunner>,
    method: &str,
) -> Result<&'a mut dyn SqlRunner> {
    runner.ok_or_else(|| {
        Error::not_implemented(format!(
            "this destination implements neither Destination::{method} nor Destination::sql_runner"
        ))
    })
}
