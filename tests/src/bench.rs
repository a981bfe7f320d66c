//! What the browser benchmarks in `benches/` share: their settings from
//! the environment and the one statistic they all report.

use std::path::PathBuf;

use crate::artifacts;

/// `BATON_BENCH_RUNS`: how many times a benchmark repeats its measurement
/// (at least once), or `default`.
pub fn runs(default: usize) -> usize {
    std::env::var("BATON_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(default).max(1)
}

/// The unpacked extension to measure: `BATON_BENCH_EXTENSION=<dir>` (another
/// build, for a before/after comparison), else the one `cargo xtask build`
/// made.
pub fn extension_under_test() -> PathBuf {
    match std::env::var_os("BATON_BENCH_EXTENSION") {
        Some(dir) => PathBuf::from(dir),
        None => artifacts::extension_dir().expect("cargo xtask build first"),
    }
}

/// The middle value (the upper of the two middle ones for an even count);
/// NaN for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
