//! Fail points for crash tests: `SLUICE_FAILPOINT=<name>` makes the process abort at the named
//! point, exactly as a kill would, so tests can prove that the next run completes the work
//! without duplicating or losing rows. `<name>:sleep=<ms>` pauses there instead (for tests that
//! need a step to take a while, such as the progress display's); several points are separated
//! by commas. Unset in normal use; checking costs one env lookup.

/// Abort (or pause) the process if `SLUICE_FAILPOINT` names `name`.
pub fn hit(name: &str) {
    let Ok(points) = std::env::var("SLUICE_FAILPOINT") else {
        return;
    };
    for point in points.split(',') {
        let (point_name, action) = point.split_once(':').unwrap_or((point, ""));
        if point_name != name {
            continue;
        }
        if let Some(ms) = action
            .strip_prefix("sleep=")
            .and_then(|ms| ms.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            continue;
        }
        eprintln!("sluice: fail point '{name}' hit, aborting");
        std::process::abort();
    }
}
