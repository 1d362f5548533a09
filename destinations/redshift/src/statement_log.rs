//! A record of the statements a destination sends, for tests that check their dialect.

use std::sync::{Arc, Mutex};

/// Every statement a destination sent, in order, shared between the test and the
/// destinations of a [`RedshiftFactory`](crate::RedshiftFactory) built with
/// [`with_statement_log`](crate::RedshiftFactory::with_statement_log). A destination without
/// a log records nothing and pays one `Option` check per statement.
#[derive(Debug, Clone, Default)]
pub struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a statement.
    pub(crate) fn record(&self, sql: &str) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sql.to_string());
    }

    /// A copy of the statements recorded so far.
    pub fn statements(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forget what was recorded.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
