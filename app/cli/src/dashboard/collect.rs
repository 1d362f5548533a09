//! What the dashboard shows, gathered once per page: the pipeline's local files (state,
//! schemas, packages, the last run's trace) and its dataset at the destination (row counts,
//! first rows, `_dlt_loads`, the stored state). Nothing here holds a secret: locations are the
//! destinations' own secret-free `location()`, and no config value is read.

use arrow::record_batch::RecordBatch;
use serde::Serialize;
use sluice_core::Schema;
use sluice_pipeline::package::list_packages;
use sluice_pipeline::paths::PipelinePaths;
use sluice_pipeline::state::PipelineState;
use sluice_pipeline::{Pipeline, RunInfo};
use std::path::Path;

/// Rows a SQL query returns to the page at most.
pub const QUERY_ROW_CAP: usize = 1000;

/// A query's result as text cells, for the page.
#[derive(Debug, Clone, Serialize)]
pub struct Grid {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of cells (`None` for NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// Whether rows beyond the cap were left out.
    pub truncated: bool,
}

impl Grid {
    /// The first `cap` rows of `batches`.
    pub fn from_batches(batches: &[RecordBatch], cap: usize) -> anyhow::Result<Self> {
        use arrow::array::Array;
        use arrow::util::display::{ArrayFormatter, FormatOptions};
        let columns = batches
            .first()
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut rows = Vec::new();
        let mut truncated = false;
        let options = FormatOptions::default();
        'batches: for batch in batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                if rows.len() == cap {
                    truncated = true;
                    break 'batches;
                }
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .zip(&formatters)
                        .map(|(c, f)| (!c.is_null(row)).then(|| f.value(row).to_string()))
                        .collect(),
                );
            }
        }
        Ok(Self {
            columns,
            rows,
            truncated,
        })
    }
}

/// One data table at the destination.
#[derive(Debug, Clone, Serialize)]
pub struct TableData {
    /// Table name.
    pub name: String,
    /// Rows, or the error the destination gave.
    pub count: Result<u64, String>,
    /// The first rows (when the count worked and is not zero).
    pub first_rows: Option<Result<Grid, String>>,
}

/// One load of `_dlt_loads`, with what the local package says about it.
#[derive(Debug, Clone, Serialize)]
pub struct LoadEntry {
    /// Load id.
    pub load_id: String,
    /// Schema name.
    pub schema_name: String,
    /// Status (0 = loaded).
    pub status: String,
    /// When it was recorded.
    pub inserted_at: String,
    /// Schema version hash.
    pub schema_version_hash: String,
    /// Rows per table, from the local package (when it is still on this machine).
    pub rows: Vec<(String, u64)>,
}

/// A package that waits to be loaded.
#[derive(Debug, Clone, Serialize)]
pub struct PendingPackage {
    /// Load id.
    pub load_id: String,
    /// Rows per table.
    pub rows: Vec<(String, u64)>,
}

/// An incremental cursor of a resource, from the state.
#[derive(Debug, Clone, Serialize)]
pub struct Cursor {
    /// Source name.
    pub source: String,
    /// Resource name.
    pub resource: String,
    /// Cursor path.
    pub cursor_path: String,
    /// Last value seen.
    pub last_value: String,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// Pipeline name.
    pub pipeline: String,
    /// Destination name.
    pub destination: String,
    /// Where the destination keeps the data (no secrets).
    pub location: Result<String, String>,
    /// Dataset name.
    pub dataset: String,
    /// The last run, from its trace.
    pub last_run: Option<RunInfo>,
    /// The schemas, default first.
    pub schemas: Vec<Schema>,
    /// Data tables at the destination.
    pub tables: Vec<TableData>,
    /// The local state, as JSON.
    pub local_state: serde_json::Value,
    /// The state stored at the destination, or why it could not be read.
    pub stored_state: Result<Option<serde_json::Value>, String>,
    /// Incremental cursors.
    pub cursors: Vec<Cursor>,
    /// `_dlt_loads`, newest first, or why it could not be read.
    pub loads: Result<Vec<LoadEntry>, String>,
    /// Pending packages.
    pub pending: Vec<PendingPackage>,
    /// Whether the destination answers SQL (the SQL box is shown then).
    pub can_query: bool,
}

fn manifest_rows(m: &sluice_pipeline::package::Manifest) -> Vec<(String, u64)> {
    m.tables.iter().map(|(t, f)| (t.clone(), f.rows)).collect()
}

/// Incremental cursors in dlt's state layout:
/// `sources.<source>.resources.<resource>.incremental.<cursor_path>.last_value`.
fn cursors(state: &PipelineState) -> Vec<Cursor> {
    let mut out = Vec::new();
    for (source, s) in &state.sources {
        let Some(resources) = s.get("resources").and_then(|r| r.as_object()) else {
            continue;
        };
        for (resource, r) in resources {
            let Some(inc) = r.get("incremental").and_then(|i| i.as_object()) else {
                continue;
            };
            for (path, c) in inc {
                let last = c.get("last_value").cloned().unwrap_or_default();
                out.push(Cursor {
                    source: source.clone(),
                    resource: resource.clone(),
                    cursor_path: path.clone(),
                    last_value: match last {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    },
                });
            }
        }
    }
    out
}

/// Gather the snapshot of pipeline `name` in `dir`, showing `rows` first rows per table.
pub async fn snapshot(
    name: &str,
    dir: &Path,
    paths: &PipelinePaths,
    state: &PipelineState,
    rows: usize,
) -> anyhow::Result<Snapshot> {
    let pipeline = Pipeline::open(&sluice::registry(), name, Some(dir))?;
    let mut schemas = Vec::new();
    let mut names = state.schema_names.clone();
    if let Some(default) = &state.default_schema_name {
        names.retain(|n| n != default);
        names.insert(0, default.clone());
    }
    for schema_name in &names {
        if let Ok(text) = std::fs::read_to_string(paths.schema_file(schema_name)) {
            schemas.push(Schema::from_json(&text)?);
        }
    }
    let last_run = std::fs::read_to_string(paths.trace_file())
        .ok()
        .and_then(|t| serde_json::from_str::<RunInfo>(&t).ok());
    let loaded: Vec<_> = list_packages(&paths.loaded_packages())?;
    let pending = list_packages(&paths.normalized_packages())?
        .iter()
        .map(|p| PendingPackage {
            load_id: p.manifest.load_id.clone(),
            rows: manifest_rows(&p.manifest),
        })
        .collect();
    let mut snapshot = Snapshot {
        pipeline: name.to_string(),
        destination: pipeline.destination_name().to_string(),
        location: Err("not connected".into()),
        dataset: pipeline.dataset_name().to_string(),
        last_run,
        schemas,
        tables: Vec::new(),
        local_state: serde_json::to_value(state)?,
        stored_state: Ok(None),
        cursors: cursors(state),
        loads: Ok(Vec::new()),
        pending,
        can_query: false,
    };
    let mut dataset = match pipeline.dataset().await {
        Ok(d) => d,
        Err(e) => {
            let why = format!("cannot connect to the destination: {e}");
            snapshot.location = Err(why.clone());
            snapshot.stored_state = Err(why.clone());
            snapshot.loads = Err(why);
            return Ok(snapshot);
        }
    };
    snapshot.location = Ok(dataset.destination().location());
    snapshot.stored_state = dataset
        .destination()
        .stored_state(name)
        .await
        .map(|s| s.map(|r| r.state))
        .map_err(|e| e.to_string());
    for table in snapshot
        .schemas
        .iter()
        .flat_map(|s| s.data_tables())
        .filter(|t| t.complete_columns().next().is_some())
    {
        let count = dataset
            .row_count(&table.name)
            .await
            .map_err(|e| e.to_string());
        let first_rows = match &count {
            Ok(n) if *n > 0 && rows > 0 => {
                let sql = format!(
                    "SELECT * FROM {} LIMIT {rows}",
                    dataset.qualified_table(&table.name)
                );
                Some(match dataset.query(&sql).await {
                    Ok(b) => Grid::from_batches(&b, rows).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                })
            }
            _ => None,
        };
        if count.is_ok() {
            snapshot.can_query = true;
        }
        snapshot.tables.push(TableData {
            name: table.name.clone(),
            count,
            first_rows,
        });
    }
    let sql = format!(
        "SELECT load_id, schema_name, status, inserted_at, schema_version_hash FROM {} ORDER BY load_id DESC LIMIT {QUERY_ROW_CAP}",
        dataset.qualified_table(sluice_core::LOADS_TABLE)
    );
    snapshot.loads = match dataset.query(&sql).await {
        Ok(batches) => {
            let grid = Grid::from_batches(&batches, QUERY_ROW_CAP)?;
            snapshot.can_query = true;
            Ok(grid
                .rows
                .into_iter()
                .map(|r| {
                    let cell = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
                    let load_id = cell(0);
                    let rows = loaded
                        .iter()
                        .find(|p| p.manifest.load_id == load_id)
                        .map(|p| manifest_rows(&p.manifest))
                        .unwrap_or_default();
                    LoadEntry {
                        load_id,
                        schema_name: cell(1),
                        status: cell(2),
                        inserted_at: cell(3),
                        schema_version_hash: cell(4),
                        rows,
                    }
                })
                .collect())
        }
        Err(e) => Err(e.to_string()),
    };
    Ok(snapshot)
}

/// Run `sql` against the pipeline's dataset; the first [`QUERY_ROW_CAP`] rows, or the error
/// as the destination gave it.
pub async fn run_query(name: &str, dir: &Path, sql: &str) -> Result<Grid, String> {
    let pipeline =
        Pipeline::open(&sluice::registry(), name, Some(dir)).map_err(|e| e.to_string())?;
    let mut dataset = pipeline.dataset().await.map_err(|e| e.to_string())?;
    let batches = dataset.query(sql).await.map_err(|e| e.to_string())?;
    Grid::from_batches(&batches, QUERY_ROW_CAP).map_err(|e| e.to_string())
}
