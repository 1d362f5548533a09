//! Restoring a pipeline from its destination (dlt's `sync` / restore): the newest state stored
//! with a completed load and the newest version of each of its schemas replace the local ones,
//! so a machine that never ran the pipeline continues where the last run stopped.

use crate::paths::write_atomic;
use crate::pipeline::Pipeline;
use crate::state::PipelineState;
use sluice_core::{Destination, Result};

impl Pipeline {
    /// Replace the local state and schemas with those stored at the destination (`sync`).
    /// `schema_name` is restored too when the stored state does not list it. Returns whether the
    /// destination held anything for this pipeline.
    pub async fn sync(&mut self, schema_name: &str) -> Result<bool> {
        self.lock_for_writing()?;
        let mut dest = self.connect().await?;
        self.restore_from_destination(dest.as_mut(), schema_name)
            .await
            .map_err(|e| self.named(e))
    }

    /// Restore state and schemas from a connected destination (see [`Pipeline::sync`]).
    pub(crate) async fn restore_from_destination(
        &mut self,
        dest: &mut dyn Destination,
        schema_name: &str,
    ) -> Result<bool> {
        let mut restored = false;
        if let Some(record) = dest.stored_state(&self.options.name).await? {
            let state = PipelineState::from_record(&record, self.state.local.clone())?;
            state.save(&self.paths.state_file())?;
            self.state = state;
            restored = true;
        }
        let mut names = self.state.schema_names.clone();
        if !names.iter().any(|n| n == schema_name) {
            names.push(schema_name.to_string());
        }
        for name in names {
            if let Some(schema) = dest.stored_schema(&name).await? {
                write_atomic(&self.paths.schema_file(&name), schema.to_json()?.as_bytes())?;
                restored = true;
            }
        }
        if restored {
            tracing::info!(
                "restored state and schema of pipeline {} from the destination",
                self.options.name
            );
        }
        Ok(restored)
    }
}
