//! The registry: destination factories by name.

use crate::destination::DestinationFactory;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Maps destination names to factories. The CLI and the library pick a destination by name at
/// run time; a third-party crate registers its own with [`Registry::register`].
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, Arc<dyn DestinationFactory>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a factory under its name.
    pub fn register(&mut self, factory: Arc<dyn DestinationFactory>) -> &mut Self {
        self.factories.insert(factory.name().to_string(), factory);
        self
    }

    /// The factory named `name`, or an error listing the registered names.
    pub fn get(&self, name: &str) -> Result<Arc<dyn DestinationFactory>> {
        self.factories.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.names().collect();
            Error::config(format!(
                "unknown destination '{name}': registered destinations are {}",
                if known.is_empty() {
                    "none (this build has no destination features enabled)".to_string()
                } else {
                    known.join(", ")
                }
            ))
        })
    }

    /// Registered names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(|k| k.as_str())
    }

    /// Registered factories, sorted by name.
    pub fn factories(&self) -> impl Iterator<Item = &Arc<dyn DestinationFactory>> {
        self.factories.values()
    }
}
