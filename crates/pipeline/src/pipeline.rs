//! The pipeline: runs a source into a destination through crash-safe load packages.

use crate::dataset::Dataset;
use crate::failpoint;
use crate::info::{PackageSummary, RunInfo};
use crate::load_rules;
use crate::lock::PipelineLock;
use crate::package::{self, Package, PackageWriter};
use crate::paths::{self, PipelinePaths, write_atomic};
use crate::progress::{RunProgress, rate};
use crate::state::PipelineState;
use crate::state_guard;
use futures::StreamExt;
use sluice_core::{
    ChainDisposition, ChainJob, ConfigProvider, Destination, DestinationConfig, DestinationFactory,
    Error, LoadCommit, Registry, Result, Schema, SchemaContract, Source, SourceEvent, SourceStream,
    TableJob, ValidatedConfig,
};
use sluice_normalize::{Normalizer, NormalizerConfig};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// How to set up a pipeline.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Pipeline name (folder name of the working dir, default DuckDB file name).
    pub name: String,
    /// Destination name in the registry.
    pub destination: String,
    /// Dataset; defaults to the dataset of the last run, else `<name>_data`.
    pub dataset_name: Option<String>,
    /// Parent folder of pipeline working dirs; see [`paths::pipelines_dir`].
    pub pipelines_dir: Option<PathBuf>,
    /// Working directory of the run (config folder, default local files); the current dir by default.
    pub working_dir: Option<PathBuf>,
    /// Configuration; read from `.sluice/` (or `.dlt/`) in the working dir and the environment by default.
    pub config: Option<ConfigProvider>,
    /// Contract applied to every resource of the run, over the resources' own.
    pub schema_contract: Option<SchemaContract>,
    /// Rows per Arrow batch.
    pub batch_size: usize,
    /// Forget the local state, schemas and pending packages before running (dlt's dev mode).
    pub reset_state: bool,
    /// How long to wait for the pipeline's lock when another run holds it; `None` fails at
    /// once with a message naming the holder (see [`crate::lock`]).
    pub lock_wait: Option<std::time::Duration>,
}

impl PipelineOptions {
    /// Options with defaults for pipeline `name` loading into `destination`.
    pub fn new(name: &str, destination: &str) -> Self {
        Self {
            name: name.to_string(),
            destination: destination.to_string(),
            dataset_name: None,
            pipelines_dir: None,
            working_dir: None,
            config: None,
            schema_contract: None,
            batch_size: 10_000,
            reset_state: false,
            lock_wait: None,
        }
    }
}

/// A pipeline bound to a destination and a dataset.
pub struct Pipeline {
    pub(crate) options: PipelineOptions,
    pub(crate) factory: Arc<dyn DestinationFactory>,
    pub(crate) paths: PipelinePaths,
    /// The destination's config, validated once when the pipeline was opened.
    pub(crate) validated: ValidatedConfig,
    pub(crate) state: PipelineState,
    /// Held from the first step that changes the working dir until the pipeline is dropped.
    lock: Option<PipelineLock>,
    /// Live counters of the run in progress.
    progress: Arc<RunProgress>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.options.name)
            .field("destination", &self.options.destination)
            .field("dataset", &self.validated.config().dataset_name)
            .field("dir", &self.paths.root)
            .finish()
    }
}

impl Pipeline {
    /// Set up the pipeline: working dir, state, and a validated destination config (no I/O
    /// against the destination yet).
    pub fn new(registry: &Registry, options: PipelineOptions) -> Result<Self> {
        paths::validate_pipeline_name(&options.name)?;
        let factory = registry.get(&options.destination)?;
        let dir = paths::pipelines_dir(options.pipelines_dir.as_deref())?;
        let paths = PipelinePaths::new(&dir, &options.name);
        let mut lock = None;
        if options.reset_state {
            lock = Some(PipelineLock::acquire_waiting(
                &paths,
                &options.name,
                options.lock_wait,
            )?);
        }
        if options.reset_state && paths.root.exists() {
            std::fs::remove_dir_all(&paths.root).map_err(|e| {
                Error::storage(format!("cannot reset {}", paths.root.display())).with_source(e)
            })?;
        }
        paths.create()?;
        let state = PipelineState::load(&paths.state_file(), &options.name)?;
        let working_dir = match &options.working_dir {
            Some(d) => d.clone(),
            None => std::env::current_dir()?,
        };
        let config = match &options.config {
            Some(c) => c.clone(),
            None => ConfigProvider::load(&working_dir)?,
        };
        let dataset_name = options
            .dataset_name
            .clone()
            .or_else(|| state.dataset_name.clone())
            .unwrap_or_else(|| format!("{}_data", options.name));
        let dataset_name = factory
            .capabilities()
            .table_naming()
            .normalize_identifier(&dataset_name);
        let dest_config = DestinationConfig {
            destination_name: factory.name().to_string(),
            pipeline_name: options.name.clone(),
            dataset_name,
            working_dir,
            section: config.section(&["destination", factory.name()]),
        };
        let validated = factory.validate(&dest_config)?;
        Ok(Self {
            options,
            factory,
            paths,
            validated,
            state,
            lock,
            progress: Arc::default(),
        })
    }

    /// Live counters of the run in progress (extract and normalize, load), for a display.
    pub fn progress(&self) -> Arc<RunProgress> {
        self.progress.clone()
    }

    /// Take the pipeline's lock (see [`crate::lock`]) if not held yet, then read the local
    /// state again: another run may have committed one since this pipeline was opened.
    pub(crate) fn lock_for_writing(&mut self) -> Result<()> {
        if self.lock.is_none() {
            self.lock = Some(PipelineLock::acquire_waiting(
                &self.paths,
                &self.options.name,
                self.options.lock_wait,
            )?);
            self.state = PipelineState::load(&self.paths.state_file(), &self.options.name)?;
        }
        Ok(())
    }

    /// Open an existing pipeline with the destination and dataset of its last run.
    pub fn open(
        registry: &Registry,
        name: &str,
        pipelines_dir: Option<&std::path::Path>,
    ) -> Result<Self> {
        paths::validate_pipeline_name(name)?;
        let dir = paths::pipelines_dir(pipelines_dir)?;
        let p = PipelinePaths::new(&dir, name);
        if !p.state_file().exists() {
            return Err(Error::config(format!(
                "pipeline {name} not found in {}: run it first, or pass --pipelines-dir",
                dir.display()
            )));
        }
        let state = PipelineState::load(&p.state_file(), name)?;
        let destination = state.destination_name.clone().ok_or_else(|| {
            Error::config(format!(
                "pipeline {name} has not loaded to any destination yet"
            ))
        })?;
        let mut options = PipelineOptions::new(name, &destination);
        options.pipelines_dir = Some(dir);
        options.dataset_name = state.dataset_name.clone();
        Self::new(registry, options)
    }

    /// The pipeline name.
    pub fn name(&self) -> &str {
        &self.options.name
    }

    /// The dataset name.
    pub fn dataset_name(&self) -> &str {
        &self.validated.config().dataset_name
    }

    /// The destination name.
    pub fn destination_name(&self) -> &str {
        self.factory.name()
    }

    /// The working dir folders.
    pub fn paths(&self) -> &PipelinePaths {
        &self.paths
    }

    /// The local state.
    pub fn state(&self) -> &PipelineState {
        &self.state
    }

    /// The locally stored schema named `name`.
    pub fn schema(&self, name: &str) -> Result<Option<Schema>> {
        read_schema(&self.paths, name)
    }

    /// Connect to the destination and make sure the dataset and system tables exist.
    pub async fn connect(&self) -> Result<Box<dyn Destination>> {
        let connected = async {
            let mut dest = self.factory.connect(&self.validated).await?;
            dest.initialize().await?;
            Ok(dest)
        };
        connected.await.map_err(|e| self.named(e))
    }

    /// An error of the destination, with its name put in front (see [`named`]).
    pub(crate) fn named(&self, e: Error) -> Error {
        named(self.factory.name(), e)
    }

    /// A handle on the loaded data.
    pub async fn dataset(&self) -> Result<Dataset> {
        Ok(Dataset::new(
            self.connect().await?,
            self.validated.config().dataset_name.clone(),
        ))
    }

    /// Packages committed locally but not loaded yet.
    pub fn pending_packages(&self) -> Result<Vec<Package>> {
        package::list_packages(&self.paths.normalized_packages())
    }

    /// Packages loaded, oldest first.
    pub fn loaded_packages(&self) -> Result<Vec<Package>> {
        package::list_packages(&self.paths.loaded_packages())
    }

    /// Run a source: load pending packages first (and then stop, as dlt does, so that an
    /// interrupted run is completed without extracting its data twice); otherwise extract and
    /// normalize into a new package and load it.
    pub async fn run(&mut self, source: Box<dyn Source>) -> Result<RunInfo> {
        let result = self.run_steps(source).await;
        self.progress.idle();
        result
    }

    async fn run_steps(&mut self, source: Box<dyn Source>) -> Result<RunInfo> {
        let started = Instant::now();
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.lock_for_writing()?;
        crate::drop::check_no_interrupted_drop(&self.paths, &self.options.name)?;
        let discarded = package::discard_incomplete(&self.paths)?;
        if discarded > 0 {
            tracing::warn!(
                "discarded {discarded} incomplete package(s) from an interrupted extract; their data is extracted again"
            );
        }
        let mut dest = self.connect().await?;
        let pending = self.pending_packages()?;
        if !pending.is_empty() {
            tracing::warn!(
                "{} pending package(s) from an earlier run are loaded first; new data is not extracted in this run",
                pending.len()
            );
            let load_started = Instant::now();
            let mut summaries = Vec::new();
            for p in pending {
                summaries.push(self.load_package(dest.as_mut(), p).await?);
            }
            return Ok(self.run_info(
                dest.as_ref(),
                summaries,
                (started, started_at, load_started),
                None,
                true,
                vec![],
            ));
        }
        if self.state.version == 0 && self.state.schema_names.is_empty() {
            self.restore_from_destination(dest.as_mut(), source.name())
                .await
                .map_err(|e| self.named(e))?;
        } else {
            self.adopt_newer_state(dest.as_mut(), source.name())
                .await
                .map_err(|e| self.named(e))?;
        }
        let counters = source.counters();
        let extract_started = Instant::now();
        let (package, warnings) = match self.extract(source).await {
            Ok(r) => r,
            Err(e) => {
                // Nothing of this run was committed: remove the partial package now.
                let _ = package::discard_incomplete(&self.paths);
                return Err(e);
            }
        };
        // What the extraction freed goes back to the OS before the load allocates its own (the
        // source's thread does the same for what it allocated, see `prefetch`).
        sluice_core::memory::release_free_memory();
        let extracted = ExtractTrace {
            elapsed: extract_started.elapsed(),
            resources: counters.map(|c| c.snapshot()).unwrap_or_default(),
        };
        let load_started = Instant::now();
        let summary = self.load_package(dest.as_mut(), package).await?;
        Ok(self.run_info(
            dest.as_ref(),
            vec![summary],
            (started, started_at, load_started),
            Some(extracted),
            false,
            warnings,
        ))
    }

    /// Load packages left pending by an interrupted run. Returns their summaries.
    pub async fn load_pending(&mut self) -> Result<Vec<PackageSummary>> {
        self.lock_for_writing()?;
        crate::drop::check_no_interrupted_drop(&self.paths, &self.options.name)?;
        let mut dest = self.connect().await?;
        let mut out = Vec::new();
        for p in self.pending_packages()? {
            out.push(self.load_package(dest.as_mut(), p).await?);
        }
        Ok(out)
    }

    pub(crate) async fn extract(
        &mut self,
        source: Box<dyn Source>,
    ) -> Result<(Package, Vec<String>)> {
        let caps = self.factory.capabilities();
        let source_name = source.name().to_string();
        paths::validate_pipeline_name(&source_name)
            .map_err(|_| Error::config(format!("invalid source name '{source_name}'")))?;
        let stored =
            read_schema(&self.paths, &source_name)?.unwrap_or_else(|| Schema::new(&source_name));
        let load_id = package::new_load_id();
        let config = NormalizerConfig {
            batch_size: self.options.batch_size,
            table_naming: caps.table_naming(),
            column_naming: caps.column_naming(),
            ..NormalizerConfig::default()
        };
        let mut normalizer = Normalizer::new(stored.clone(), &load_id, config);
        let mut writer = PackageWriter::create(&self.paths, &load_id, &source_name)?;
        let mut roots: HashMap<String, String> = HashMap::new();
        for mut hints in source.resources() {
            if let Some(c) = self.options.schema_contract {
                hints.schema_contract = Some(c);
            }
            let root = normalizer
                .add_resource(&hints)
                .map_err(|e| e.context(format!("resource {}", hints.name)))?;
            writer.add_resource(&root);
            roots.insert(hints.name.clone(), root);
        }
        let source_state = self.state.source_state(&source_name);
        let mut events = prefetch(source.extract(source_state));
        let mut new_source_state = None;
        let mut items_seen: u64 = 0;
        self.progress.extracting();
        let progress = self.progress.clone();
        let mut last_progress = Instant::now();
        while let Some(event) = events.recv().await {
            match event? {
                SourceEvent::Page { resource, items } => {
                    let len = items.len();
                    let root = root_of(&roots, &source_name, &resource)?;
                    // CPU work: let the runtime move the source's task (fetching and parsing the
                    // next page) to the other worker meanwhile.
                    let rows = sluice_core::blocking::blocking(|| -> Result<u64> {
                        // Each item is dropped as soon as it is normalized, so a page's JSON
                        // shrinks while its rows grow.
                        for item in items {
                            normalizer
                                .push(root, &item)
                                .map_err(|e| e.context(format!("resource {resource}")))?;
                        }
                        write_ready(&mut normalizer, &mut writer)
                    })?;
                    items_seen += len as u64;
                    progress.normalized(len as u64, rows);
                    if last_progress.elapsed().as_secs() >= 5 {
                        last_progress = Instant::now();
                        let counts = progress.snapshot();
                        tracing::info!(
                            "{source_name}: {items_seen} item(s) extracted and normalized so far \
                             ({}), {} row(s) written",
                            rate(counts.items, counts.step_elapsed),
                            counts.rows_normalized
                        );
                    }
                    failpoint::hit("during_extract");
                }
                SourceEvent::Batch { resource, batch } => {
                    let root = root_of(&roots, &source_name, &resource)?;
                    let rows = sluice_core::blocking::blocking(|| -> Result<u64> {
                        normalizer
                            .push_batch(root, &batch)
                            .map_err(|e| e.context(format!("resource {resource}")))?;
                        write_ready(&mut normalizer, &mut writer)
                    })?;
                    items_seen += batch.num_rows() as u64;
                    progress.normalized(batch.num_rows() as u64, rows);
                }
                SourceEvent::State(state) => new_source_state = Some(state),
            }
        }
        for (table, batch) in normalizer.flush()? {
            progress.normalized(0, batch.num_rows() as u64);
            writer.write(&table, &batch)?;
        }
        tracing::info!("extracted and normalized {items_seen} item(s) from source {source_name}");
        let warnings = normalizer.stats().warnings.clone();
        let mut schema = normalizer.into_schema();
        load_rules::check(&schema, &caps, self.factory.name())?;
        schema.bump_version();
        let changes = schema.changes_since(&stored);

        let mut state = self.state.clone();
        state.dataset_name = Some(self.validated.config().dataset_name.clone());
        state.destination_name = Some(self.factory.name().to_string());
        if state.default_schema_name.is_none() {
            state.default_schema_name = Some(source_name.clone());
        }
        if !state.schema_names.contains(&source_name) {
            state.schema_names.push(source_name.clone());
        }
        if let Some(s) = new_source_state {
            state.sources.insert(source_name.clone(), s);
        }
        let changed = state.bump();
        let package = writer.commit(&self.paths, &schema, &changes, Some((&state, changed)))?;
        failpoint::hit("after_package_commit");
        write_atomic(
            &self.paths.schema_file(&source_name),
            schema.to_json()?.as_bytes(),
        )?;
        Ok((package, warnings))
    }

    pub(crate) async fn load_package(
        &mut self,
        dest: &mut dyn Destination,
        package: Package,
    ) -> Result<PackageSummary> {
        let load_id = package.load_id().to_string();
        let state = package.state()?;
        let already_loaded = dest.is_loaded(&load_id).await.map_err(|e| self.named(e))?;
        if already_loaded {
            tracing::info!(
                "package {load_id} is already loaded at the destination; not writing it again"
            );
        } else {
            dest.begin_load(&load_id).await.map_err(|e| self.named(e))?;
            let record = state
                .as_ref()
                .filter(|_| package.manifest.state_changed)
                .map(|s| s.to_record());
            if let Some(r) = &record {
                // Another run may have committed this pipeline's state since the package was
                // extracted (see `state_guard`): then the package is set aside, not loaded.
                let superseded = state_guard::superseded_by(dest, r, self.dataset_name()).await;
                if !matches!(superseded, Ok(None)) {
                    let _ = dest.abort_load().await;
                }
                if let Some(reason) = superseded.map_err(|e| self.named(e))? {
                    return Err(state_guard::set_aside(&self.paths, package, &reason)?);
                }
            }
            let progress = self.progress.clone();
            if let Err(e) =
                write_package(dest, self.factory.name(), &package, record, &progress).await
            {
                if let Err(abort) = dest.abort_load().await {
                    tracing::warn!("rolling back load {load_id} failed: {abort}");
                }
                return Err(e.context(format!(
                    "load package {load_id} was not loaded and stays pending"
                )));
            }
        }
        failpoint::hit("after_load_commit");
        if let Some(mut s) = state {
            s.local = self.state.local.clone();
            s.local.last_load_id = Some(load_id.clone());
            s.save(&self.paths.state_file())?;
            self.state = s;
        }
        let summary = PackageSummary {
            load_id,
            rows: package
                .manifest
                .tables
                .iter()
                .map(|(t, f)| (t.clone(), f.rows))
                .collect(),
            already_loaded,
        };
        package.mark_loaded(&self.paths)?;
        Ok(summary)
    }

    fn run_info(
        &self,
        dest: &dyn Destination,
        packages: Vec<PackageSummary>,
        (started, started_at, load_started): (Instant, String, Instant),
        extracted: Option<ExtractTrace>,
        pending_only: bool,
        warnings: Vec<String>,
    ) -> RunInfo {
        let info = RunInfo {
            pipeline_name: self.options.name.clone(),
            destination_name: self.factory.name().to_string(),
            dataset_name: self.validated.config().dataset_name.clone(),
            location: dest.location(),
            packages,
            load_elapsed: load_started.elapsed(),
            elapsed: started.elapsed(),
            pending_only,
            warnings,
            started_at: Some(started_at),
            extract_elapsed: extracted.as_ref().map(|e| e.elapsed),
            resources: extracted.map(|e| e.resources).unwrap_or_default(),
        };
        if let Ok(json) = serde_json::to_vec_pretty(&info) {
            let _ = write_atomic(&self.paths.trace_file(), &json);
        }
        info
    }
}

/// The root table of a resource the source declared.
fn root_of<'a>(
    roots: &'a HashMap<String, String>,
    source: &str,
    resource: &str,
) -> Result<&'a String> {
    roots.get(resource).ok_or_else(|| {
        Error::internal(format!(
            "source {source} produced rows for undeclared resource {resource}"
        ))
    })
}

/// Write the batches the normalizer has ready into the package; the rows written.
fn write_ready(normalizer: &mut Normalizer, writer: &mut PackageWriter) -> Result<u64> {
    let mut rows = 0;
    for (table, batch) in normalizer.take_ready() {
        rows += batch.num_rows() as u64;
        writer.write(&table, &batch)?;
    }
    Ok(rows)
}

pub(crate) fn read_schema(paths: &PipelinePaths, name: &str) -> Result<Option<Schema>> {
    match std::fs::read_to_string(paths.schema_file(name)) {
        Ok(text) => Ok(Some(Schema::from_json(&text)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// An error a destination returned, with the destination's name put in front once:
/// destinations do not name themselves in their messages.
fn named(destination: &str, e: Error) -> Error {
    e.context(format!("destination {destination}"))
}

/// Apply the schema, write every table chain and commit, inside the destination's load.
async fn write_package(
    dest: &mut dyn Destination,
    destination: &str,
    package: &Package,
    state: Option<sluice_core::StateRecord>,
    progress: &RunProgress,
) -> Result<()> {
    let schema = package.schema()?;
    load_rules::check(&schema, dest.capabilities(), destination)?;
    let named = |e: Error| named(destination, e);
    let changes = match dest.stored_schema(&schema.name).await.map_err(named)? {
        Some(stored) if stored.version_hash == schema.version_hash => Vec::new(),
        Some(stored) => schema.changes_since(&stored),
        None => schema.changes_since(&Schema::new(&schema.name)),
    };
    dest.apply_schema_changes(&changes).await.map_err(named)?;
    failpoint::hit("after_schema_changes");
    let mut roots: Vec<String> = package.manifest.resources.clone();
    for table in package.manifest.tables.keys() {
        if let Some(root) = schema.root_of(table)
            && !roots.contains(&root.name)
        {
            roots.push(root.name.clone());
        }
    }
    let mut chains = Vec::new();
    for root_name in roots {
        let Some(root) = schema.table(&root_name) else {
            continue;
        };
        let table_job = |t: &sluice_core::Table| TableJob {
            table: t.clone(),
            files: package.files(&t.name),
            rows: package.rows(&t.name),
        };
        // Skip chains write nothing and never reach the destination.
        let Some(disposition) = ChainDisposition::of(schema.write_disposition(&root_name)) else {
            continue;
        };
        let job = ChainJob {
            load_id: package.load_id().to_string(),
            disposition,
            merge_strategy: root.merge_strategy.unwrap_or_default(),
            root: table_job(root),
            // A nested table without complete columns never got a value, so the destination
            // never created it: leave it out of the chain (a merge would address it).
            nested: schema
                .nested_tables(&root_name)
                .into_iter()
                .filter(|t| t.complete_columns().next().is_some())
                .map(table_job)
                .collect(),
            schema_name: schema.name.clone(),
            scratch_dir: package.scratch_dir(destination),
        };
        // Chains without rows (except a replace, which empties) write nothing.
        let writes_nothing = job.rows() == 0 && job.disposition != ChainDisposition::Replace;
        let never_created = root.complete_columns().next().is_none();
        if !(writes_nothing || never_created) {
            chains.push(job);
        }
    }
    let total_rows: u64 = chains.iter().map(ChainJob::rows).sum();
    progress.loading(chains.len() as u64, total_rows);
    for (i, job) in chains.iter().enumerate() {
        let root_name = &job.root.table.name;
        progress.loading_table(root_name);
        dest.write_chain(job)
            .await
            .map_err(|e| named(e.context(format!("table {root_name}"))))?;
        progress.loaded_table(job.rows());
        let counts = progress.snapshot();
        tracing::info!(
            "{}: loaded table {root_name} and its nested tables, {} row(s) ({} of {} tables, \
             {} of {total_rows} rows, {})",
            package.load_id(),
            job.rows(),
            i + 1,
            chains.len(),
            counts.rows.1,
            rate(counts.rows.1, counts.step_elapsed)
        );
        failpoint::hit("after_write_chain");
    }
    dest.commit_load(&LoadCommit {
        load_id: package.load_id().to_string(),
        schema,
        state,
    })
    .await
    .map_err(named)
}

/// What the extraction of a run took and counted, for its trace.
struct ExtractTrace {
    elapsed: std::time::Duration,
    resources: Vec<sluice_core::ResourceTrace>,
}

/// Pages a source may have fetched and parsed ahead of the normalizer.
const PREFETCH_PAGES: usize = 1;

/// Run the source's stream in a task of its own, so that fetching and parsing the next pages
/// overlaps with normalizing and writing the current one; at most [`PREFETCH_PAGES`] events wait.
/// The task stops after the first error, and when the receiver is dropped.
fn prefetch(mut stream: SourceStream) -> tokio::sync::mpsc::Receiver<Result<SourceEvent>> {
    let (tx, rx) = tokio::sync::mpsc::channel(PREFETCH_PAGES);
    tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            let failed = event.is_err();
            if tx.send(event).await.is_err() || failed {
                break;
            }
        }
        // The pages were parsed on this thread: give back what its allocator kept of them.
        drop(stream);
        sluice_core::memory::release_free_memory();
    });
    rx
}
