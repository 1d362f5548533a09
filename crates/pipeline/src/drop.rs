//! Dropping resources or tables (dlt's `pipeline drop`): their tables (with their nested tables)
//! go from the destination and the schema, and their state (incremental cursors) from the
//! pipeline state, so that the next run creates and loads them again from the start.
//!
//! A drop is planned first ([`Pipeline::plan_drop`]: what would go, nothing changed yet), then
//! applied ([`Pipeline::apply_drop`]): the tables are dropped at the destination, then the new
//! schema and state are committed as a package without data and loaded like any other, so that
//! the destination records the new schema version and state (a later restore sees the drop).
//! When the process stops between the two steps, a marker in the working dir makes runs and
//! loads refuse (naming the command) until the same drop, run again, completes it.

use crate::failpoint;
use crate::package::{self, PackageWriter};
use crate::paths::{PipelinePaths, write_atomic};
use crate::pipeline::{Pipeline, read_schema};
use crate::state::PipelineState;
use serde_json::Value;
use sluice_core::sql::SqlDialect;
use sluice_core::{Destination, Error, Result, Schema, VERSION_TABLE};
use std::path::PathBuf;

/// What to drop. Resources and tables may be combined; at least one of `resources`, `tables`,
/// `state_paths` or `drop_all` must be given.
#[derive(Debug, Clone, Default)]
pub struct DropRequest {
    /// The schema (source) to drop from; the pipeline's default schema when `None`.
    pub schema_name: Option<String>,
    /// Resources whose tables and state go.
    pub resources: Vec<String>,
    /// Tables that go, each with its nested tables; the state of the resource goes with its
    /// root table.
    pub tables: Vec<String>,
    /// Dotted paths in the source's state to remove (`resources.orders.incremental`).
    pub state_paths: Vec<String>,
    /// Every resource of the schema.
    pub drop_all: bool,
    /// Reset the state only: no table is dropped and the schema stays.
    pub state_only: bool,
}

/// A planned drop: what [`Pipeline::apply_drop`] removes.
#[derive(Debug, Clone)]
pub struct DropPlan {
    /// The schema the tables are removed from.
    pub schema_name: String,
    /// Resources selected (given, or owning a given root table).
    pub resources: Vec<String>,
    /// Tables dropped at the destination and removed from the schema, nested tables first.
    pub tables: Vec<String>,
    /// Resources whose state is reset.
    pub resource_states: Vec<String>,
    /// Paths removed from the source state.
    pub state_paths: Vec<String>,
    schema: Schema,
    state: PipelineState,
    state_changed: bool,
}

impl DropPlan {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && !self.state_changed
    }
}

/// What a drop did.
#[derive(Debug, Clone)]
pub struct DropOutcome {
    /// The load id under which the new schema and state were stored.
    pub load_id: String,
    /// The tables dropped.
    pub tables: Vec<String>,
}

/// The resource a root table belongs to (its own name when the schema does not say).
fn resource_of(table: &sluice_core::Table) -> &str {
    table.resource.as_deref().unwrap_or(&table.name)
}

/// The resources of a schema (from its root tables) and of the source state, in order.
fn known_resources(schema: &Schema, source_state: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let from_tables = schema
        .data_tables()
        .filter(|t| t.parent.is_none())
        .map(|t| resource_of(t).to_string());
    let from_state = source_state
        .get("resources")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|o| o.keys().cloned());
    for r in from_tables.chain(from_state) {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Names not in `known`, as an error naming them and listing the known ones.
fn check_known(what: &str, schema: &str, asked: &[String], known: &[String]) -> Result<()> {
    let unknown: Vec<&str> = asked
        .iter()
        .filter(|a| !known.contains(a))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let listed = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    Err(Error::config(format!(
        "unknown {what}(s) {} in schema {schema}; known {what}s: {listed}",
        unknown.join(", ")
    )))
}

/// Remove the value at a dotted `path` of `state`; whether it was there.
fn remove_path(state: &mut Value, path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return false;
    };
    let mut node = state;
    for p in parts {
        match node.get_mut(p) {
            Some(next) => node = next,
            None => return false,
        }
    }
    node.as_object_mut()
        .is_some_and(|o| o.shift_remove(last).is_some())
}

/// Plan a drop on `schema` and `state` without changing anything.
pub fn plan(schema: &Schema, state: &PipelineState, request: &DropRequest) -> Result<DropPlan> {
    if request.resources.is_empty()
        && request.tables.is_empty()
        && request.state_paths.is_empty()
        && !request.drop_all
    {
        return Err(Error::config(
            "nothing selected to drop: name resources, tables or state paths, or drop all",
        ));
    }
    let name = schema.name.clone();
    let mut source_state = state.source_state(&name);
    let known = known_resources(schema, &source_state);
    check_known("resource", &name, &request.resources, &known)?;
    let tables: Vec<String> = schema.data_tables().map(|t| t.name.clone()).collect();
    check_known("table", &name, &request.tables, &tables)?;

    let mut resources: Vec<String> = if request.drop_all {
        known.clone()
    } else {
        request.resources.clone()
    };
    // Root tables of the selected resources, and the given tables.
    let mut selected: Vec<String> = schema
        .data_tables()
        .filter(|t| t.parent.is_none() && resources.iter().any(|r| r == resource_of(t)))
        .map(|t| t.name.clone())
        .collect();
    for t in &request.tables {
        if !selected.contains(t) {
            selected.push(t.clone());
        }
        // A root table takes its resource's state with it.
        if let Some(table) = schema.table(t).filter(|t| t.parent.is_none()) {
            let r = resource_of(table).to_string();
            if !resources.contains(&r) {
                resources.push(r);
            }
        }
    }
    let mut drop_tables: Vec<String> = Vec::new();
    if !request.state_only {
        for t in &selected {
            let nested = schema.nested_tables(t);
            for n in nested.iter().rev() {
                if !drop_tables.contains(&n.name) {
                    drop_tables.push(n.name.clone());
                }
            }
            if !drop_tables.contains(t) {
                drop_tables.push(t.clone());
            }
        }
    }

    let mut resource_states = Vec::new();
    for r in &resources {
        if remove_path(&mut source_state, &format!("resources.{r}")) {
            resource_states.push(r.clone());
        }
    }
    for p in &request.state_paths {
        if !remove_path(&mut source_state, p)
            && !resource_states
                .iter()
                .any(|r| p.starts_with(&format!("resources.{r}")))
        {
            let top: Vec<String> = source_state
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            return Err(Error::config(format!(
                "state path {p} not found in the state of source {name}; its top-level keys: {}",
                if top.is_empty() {
                    "none".to_string()
                } else {
                    top.join(", ")
                }
            )));
        }
    }

    let mut new_schema = schema.clone();
    for t in &drop_tables {
        new_schema.tables.shift_remove(t);
    }
    new_schema.bump_version();
    let mut new_state = state.clone();
    if !source_state.is_null() {
        new_state.sources.insert(name.clone(), source_state);
    }
    let state_changed = new_state.bump();
    Ok(DropPlan {
        schema_name: name,
        resources,
        tables: drop_tables,
        resource_states,
        state_paths: request.state_paths.clone(),
        schema: new_schema,
        state: new_state,
        state_changed,
    })
}

impl Pipeline {
    /// Plan a drop on the local schema and state (see [`DropRequest`]). Takes the pipeline's
    /// lock, which is held until the pipeline is dropped, so nothing changes between the plan
    /// and [`Pipeline::apply_drop`].
    pub fn plan_drop(&mut self, request: &DropRequest) -> Result<DropPlan> {
        self.lock_for_writing()?;
        let schema_name = match &request.schema_name {
            Some(s) => s.clone(),
            None => self.state.default_schema_name.clone().ok_or_else(|| {
                Error::config(format!(
                    "pipeline {} has no schema yet: nothing to drop",
                    self.options.name
                ))
            })?,
        };
        let schema = read_schema(&self.paths, &schema_name)?.ok_or_else(|| {
            Error::config(format!(
                "schema {schema_name} not found in pipeline {}; its schemas: {}",
                self.options.name,
                self.state.schema_names.join(", ")
            ))
        })?;
        plan(&schema, &self.state, request)
    }

    /// Apply a plan of [`Pipeline::plan_drop`]: drop its tables at the destination, then store
    /// the new schema and state there (as a load without data) and locally. Refused while
    /// packages are pending: they were made with the old schema.
    pub async fn apply_drop(&mut self, plan: &DropPlan) -> Result<DropOutcome> {
        self.lock_for_writing()?;
        let pending = self.pending_packages()?;
        if !pending.is_empty() {
            return Err(Error::config(format!(
                "pipeline {} has {} pending package(s) made with the current schema: load them \
                 first (`sluice pipeline {0} load-pending`) or delete them \
                 (`sluice pipeline {0} drop-pending-packages`)",
                self.options.name,
                pending.len()
            )));
        }
        let unfinished = interrupted_drop(&self.paths)?;
        let missing: Vec<&String> = unfinished
            .iter()
            .filter(|t| !plan.tables.contains(t))
            .collect();
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "an earlier drop of table(s) {} was interrupted: complete it first \
                 (`sluice pipeline {} drop --tables {}`)",
                join(&missing),
                self.options.name,
                missing
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )));
        }
        let mut dest = self.connect().await?;
        if !plan.tables.is_empty() {
            let marker = serde_json::json!({ "tables": plan.tables });
            write_atomic(&marker_file(&self.paths), marker.to_string().as_bytes())?;
            dest.drop_tables(&plan.tables)
                .await
                .map_err(|e| self.named(e.context("dropping tables")))?;
            failpoint::hit("after_drop_tables");
        }
        if !plan.tables.is_empty() {
            forget_schema_versions(dest.as_mut(), self.dataset_name(), &plan.schema_name).await;
        }
        let load_id = package::new_load_id();
        let writer = PackageWriter::create(&self.paths, &load_id, &plan.schema_name)?;
        let package = writer.commit(
            &self.paths,
            &plan.schema,
            &[],
            Some((&plan.state, plan.state_changed)),
        )?;
        write_atomic(
            &self.paths.schema_file(&plan.schema_name),
            plan.schema.to_json()?.as_bytes(),
        )?;
        self.load_package(dest.as_mut(), package).await?;
        match std::fs::remove_file(marker_file(&self.paths)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::storage("cannot remove the drop's marker").with_source(e));
            }
            _ => {}
        }
        Ok(DropOutcome {
            load_id,
            tables: plan.tables.clone(),
        })
    }
}

/// The marker of a drop that has begun dropping tables and not yet stored the new schema: a run
/// in between would load into tables the schema says exist.
fn marker_file(paths: &PipelinePaths) -> PathBuf {
    paths.root.join("drop_in_progress.json")
}

/// The tables of an interrupted drop (empty when there is none).
fn interrupted_drop(paths: &PipelinePaths) -> Result<Vec<String>> {
    let path = marker_file(paths);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let marker: Value = serde_json::from_slice(&bytes).map_err(|e| {
                Error::storage(format!("{} is corrupt", path.display())).with_source(e)
            })?;
            Ok(marker["tables"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::storage(format!("cannot read {}", path.display())).with_source(e)),
    }
}

/// Refuse to run or load while a drop is half done (its tables dropped, the schema not yet
/// stored), naming the command that completes it.
pub(crate) fn check_no_interrupted_drop(paths: &PipelinePaths, pipeline: &str) -> Result<()> {
    let tables = interrupted_drop(paths)?;
    if tables.is_empty() {
        return Ok(());
    }
    Err(Error::config(format!(
        "a drop of table(s) {} in pipeline {pipeline} was interrupted after the tables were \
         dropped: complete it with `sluice pipeline {pipeline} drop --tables {}` before running \
         or loading",
        join(&tables.iter().collect::<Vec<_>>()),
        tables.join(",")
    )))
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Delete the stored versions of `schema` from `_dlt_version` before the schema after the drop
/// is stored, as dlt's drop does. A destination stores a schema version only when its hash is
/// new, and restores the highest version: without this, the schema after a drop (or the next
/// run's, with the tables back) can have the hash of a version stored before and not be
/// stored, and the destination would go on answering with a schema that does not match its
/// tables. Where the destination cannot run SQL, the old versions stay (with a warning).
async fn forget_schema_versions(dest: &mut dyn Destination, dataset: &str, schema: &str) {
    let d = SqlDialect::new(dest.capabilities(), dataset);
    let sql = format!(
        "DELETE FROM {} WHERE {} = {}",
        d.table(VERSION_TABLE),
        d.quote("schema_name"),
        d.literal(schema)
    );
    if let Err(e) = dest.query(&sql).await {
        tracing::warn!(
            "the older versions of schema {schema} stay in {VERSION_TABLE}: {e}; a restore may \
             find a schema from before the drop"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::{Column, DataType, Table};

    fn schema() -> Schema {
        let mut s = Schema::new("shop");
        let col = |n: &str| Column::new(n, DataType::Text);
        let mut orders = Table::new("orders").with_column(col("id"));
        orders.resource = Some("orders".into());
        s.tables.insert("orders".into(), orders);
        s.tables.insert(
            "orders__items".into(),
            Table::nested("orders__items", "orders").with_column(col("sku")),
        );
        s.tables.insert(
            "orders__items__tags".into(),
            Table::nested("orders__items__tags", "orders__items").with_column(col("v")),
        );
        s.tables
            .insert("users".into(), Table::new("users").with_column(col("id")));
        s.bump_version();
        s
    }

    fn state() -> PipelineState {
        let mut st = PipelineState::new("p");
        st.sources.insert(
            "shop".into(),
            json!({"resources": {"orders": {"incremental": {"updated_at": {"last_value": 5}}},
                                 "users": {"x": 1}}, "other": 1}),
        );
        st.bump();
        st
    }

    fn request() -> DropRequest {
        DropRequest::default()
    }

    #[test]
    fn a_resource_takes_its_nested_tables_and_state() {
        let req = DropRequest {
            resources: vec!["orders".into()],
            ..request()
        };
        let p = plan(&schema(), &state(), &req).unwrap();
        assert_eq!(p.tables, ["orders__items__tags", "orders__items", "orders"]);
        assert_eq!(p.resource_states, ["orders"]);
        assert!(p.schema.table("orders").is_none() && p.schema.table("users").is_some());
        assert!(p.schema.version > schema().version);
        assert_eq!(
            p.state.sources["shop"],
            json!({"resources": {"users": {"x": 1}}, "other": 1})
        );
        assert!(p.state.version > state().version);
    }

    #[test]
    fn a_root_table_resets_its_resource_a_nested_one_does_not() {
        let req = DropRequest {
            tables: vec!["users".into()],
            ..request()
        };
        let p = plan(&schema(), &state(), &req).unwrap();
        assert_eq!(p.tables, ["users"]);
        assert_eq!(p.resource_states, ["users"]);

        let req = DropRequest {
            tables: vec!["orders__items".into()],
            ..request()
        };
        let p = plan(&schema(), &state(), &req).unwrap();
        assert_eq!(p.tables, ["orders__items__tags", "orders__items"]);
        assert!(p.resource_states.is_empty());
    }

    #[test]
    fn state_only_and_state_paths_keep_the_tables() {
        let req = DropRequest {
            resources: vec!["orders".into()],
            state_only: true,
            ..request()
        };
        let p = plan(&schema(), &state(), &req).unwrap();
        assert!(p.tables.is_empty());
        assert_eq!(p.schema.version_hash, schema().version_hash);
        assert_eq!(p.resource_states, ["orders"]);

        let req = DropRequest {
            state_paths: vec!["other".into()],
            ..request()
        };
        let p = plan(&schema(), &state(), &req).unwrap();
        assert!(p.tables.is_empty() && !p.is_empty());
        assert!(p.state.sources["shop"].get("other").is_none());
    }

    #[test]
    fn unknown_names_are_named_with_the_known_ones() {
        let req = DropRequest {
            resources: vec!["nope".into()],
            ..request()
        };
        let e = plan(&schema(), &state(), &req).unwrap_err().to_string();
        assert!(e.contains("unknown resource(s) nope in schema shop"), "{e}");
        assert!(e.contains("known resources: orders, users"), "{e}");

        let req = DropRequest {
            tables: vec!["ghost".into()],
            ..request()
        };
        let e = plan(&schema(), &state(), &req).unwrap_err().to_string();
        assert!(e.contains("unknown table(s) ghost"), "{e}");
        assert!(e.contains("orders__items__tags"), "{e}");

        let req = DropRequest {
            state_paths: vec!["resources.nope.x".into()],
            ..request()
        };
        let e = plan(&schema(), &state(), &req).unwrap_err().to_string();
        assert!(e.contains("state path resources.nope.x not found"), "{e}");

        let e = plan(&schema(), &state(), &request())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nothing selected"), "{e}");
    }

    #[test]
    fn drop_all_selects_every_resource() {
        let req = DropRequest {
            drop_all: true,
            ..request()
        };
        let p = plan(&schema(), &state(), &req).unwrap();
        assert_eq!(p.resources, ["orders", "users"]);
        assert_eq!(p.tables.len(), 4);
        assert_eq!(p.resource_states, ["orders", "users"]);
    }
}
