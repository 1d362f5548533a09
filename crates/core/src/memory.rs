//! A hook to hand freed memory back to the operating system between a run's phases.
//!
//! Libraries do not pick the process's allocator; the program does. A program whose allocator
//! keeps freed memory around for reuse (mimalloc, jemalloc) can register how to give it back,
//! and the pipeline calls that after extracting and before loading, so that the load (DuckDB's
//! own buffers, for one) does not stack on top of what the extraction left behind.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Register the function that returns the allocator's free memory to the OS. Only the first
/// registration counts; returns whether this one did.
pub fn set_release_hook(release: fn()) -> bool {
    RELEASE.set(release).is_ok()
}

/// Return free memory to the OS through the registered hook (nothing without one).
pub fn release_free_memory() {
    if let Some(release) = RELEASE.get() {
        release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn the_first_hook_is_called() {
        release_free_memory();
        assert_eq!(CALLS.load(Ordering::SeqCst), 0, "no hook: nothing happens");
        assert!(set_release_hook(|| {
            CALLS.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(!set_release_hook(|| panic!("a second hook is ignored")));
        release_free_memory();
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    }
}
