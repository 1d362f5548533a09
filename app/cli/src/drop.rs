//! `sluice pipeline NAME drop`: drop resources or tables from the destination, the schema and
//! the state (dlt's `pipeline drop`), after showing what goes and asking.

use crate::args::DropArgs;
use sluice_pipeline::{DropPlan, DropRequest, Pipeline};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Plan the drop, show it, ask (unless `--yes`), apply it.
pub async fn run(name: &str, dir: &Path, args: DropArgs) -> anyhow::Result<()> {
    let mut pipeline = Pipeline::open(&sluice::registry(), name, Some(dir))?;
    let mut resources = args.resource_names;
    resources.extend(args.resources);
    let request = DropRequest {
        schema_name: args.schema,
        resources,
        tables: args.tables,
        state_paths: args.state_paths,
        drop_all: args.drop_all,
        state_only: args.state_only,
    };
    let plan = pipeline.plan_drop(&request)?;
    if plan.is_empty() {
        println!("Nothing to drop: the selected resources have no tables and no state");
        return Ok(());
    }
    show(&pipeline, &plan);
    if !confirmed(args.yes)? {
        println!("Nothing was dropped");
        return Ok(());
    }
    let outcome = pipeline.apply_drop(&plan).await?;
    println!(
        "Dropped {} table(s) and reset the state of {} resource(s); the new schema and state \
         are stored at the destination with load {}",
        outcome.tables.len(),
        plan.resource_states.len(),
        outcome.load_id
    );
    Ok(())
}

/// A list the way dlt prints it: `["a", "b"]`.
fn listed(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn show(pipeline: &Pipeline, plan: &DropPlan) {
    println!(
        "About to drop the following data in dataset {} in destination {}:",
        pipeline.dataset_name(),
        pipeline.destination_name()
    );
    println!("Selected schema:: {}", plan.schema_name);
    println!("Selected resource(s):: {}", listed(&plan.resources));
    println!("Table(s) to drop:: {}", listed(&plan.tables));
    println!(
        "Resource(s) state to reset:: {}",
        listed(&plan.resource_states)
    );
    println!(
        "Source state path(s) to reset:: {}",
        listed(&plan.state_paths)
    );
}

/// Whether to go on: `--yes`, else the answer to a y/N question on a terminal. Without a
/// terminal and without `--yes` nothing is dropped.
fn confirmed(yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "not dropping anything: confirmation is asked on a terminal and stdin is not one; \
             pass --yes to drop without being asked"
        );
    }
    print!("Do you want to apply these changes? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
