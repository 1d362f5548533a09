//! Fail points for crash tests: `SLUICE_FAILPOINT=<name>` makes the process abort at the named
//! point, exactly as a kill would, so tests can prove that the next run completes the work
//! without duplicating or losing rows. Unset in normal use; checking costs one env lookup.

/// Abort the process if `SLUICE_FAILPOINT` equals `name`.
pub fn hit(name: &str) {
    if std::env::var("SLUICE_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("sluice: fail point '{name}' hit, aborting");
        std::process::abort();
    }
}
