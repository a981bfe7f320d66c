//! The panel's search over 5,000 tabs (2 devices, 50 windows): building the
//! catalog once when devices arrive, then one search per keystroke. The
//! panel draws only what a search leaves visible, so this is the part that
//! grows with the number of tabs. Measured natively; the panel runs the same
//! code as Wasm, a small factor slower.
//!
//! Run: `cargo xtask bench` (or `cargo bench -p baton-extension --bench
//! panel_search`). Prints p50/p99 per search over `BATON_BENCH_RUNS` (default
//! 200) rounds of the queries below, and writes
//! `target/bench/panel_search.json`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use baton_extension::panel::model::Catalog;
use baton_shared::api::DeviceKind;
use baton_shared::session::{RemoteDevice, RemoteWindow, TabState};

/// What a person types, letter by letter, and whole words that match many
/// tabs, one tab, or none.
const QUERIES: &[&str] = &["a", "ar", "art", "arti", "article/4242", "topic3", "site42 topic", "nothing-matches", ""];

fn catalog_input() -> Vec<RemoteDevice> {
    (0..2)
        .map(|d| RemoteDevice {
            id: format!("device-{d}"),
            name: format!("Device {d}"),
            kind: DeviceKind::Laptop,
            last_seen_ms: d,
            windows: (0..25)
                .map(|w| RemoteWindow {
                    id: d * 25 + w,
                    focused: w == 0,
                    tabs: (0..100)
                        .map(|t| {
                            let n = (d * 25 + w) * 100 + t;
                            TabState {
                                id: n,
                                window_id: d * 25 + w,
                                index: t as u32,
                                url: format!("https://site{}.example/article/{n}?ref=home", n % 97),
                                title: format!("Topic{} — a page about things, number {n}", n % 7),
                                fav_icon_url: None,
                                pinned: false,
                                active: t == 0,
                                last_accessed_ms: n,
                                group: None,
                            }
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn bench_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().map(PathBuf::from).unwrap_or(manifest);
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
    .join("bench")
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means skip.
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && !"panel_search".contains(a.as_str())) {
        return;
    }
    let rounds: usize = std::env::var("BATON_BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(200).max(1);

    let mut builds = Vec::with_capacity(rounds);
    let mut searches = Vec::with_capacity(rounds * QUERIES.len());
    let mut matched = Vec::new();
    for round in 0..rounds {
        let input = catalog_input();
        let started = Instant::now();
        let catalog = Catalog::new(input);
        builds.push(started.elapsed());
        for query in QUERIES {
            let started = Instant::now();
            let selection = std::hint::black_box(catalog.select(query));
            searches.push(started.elapsed());
            if round == 0 {
                matched.push((*query, selection.matched_tabs));
            }
        }
    }
    builds.sort();
    searches.sort();
    let report = serde_json::json!({
        "tabs": 5_000,
        "rounds": rounds,
        "catalog_build_ms": {"p50": percentile(&builds, 50.0), "p99": percentile(&builds, 99.0)},
        "search_ms": {"p50": percentile(&searches, 50.0), "p99": percentile(&searches, 99.0),
            "max": percentile(&searches, 100.0)},
        "matched": matched.iter().map(|(q, n)| serde_json::json!({"query": q, "tabs": n})).collect::<Vec<_>>(),
    });
    println!("panel search benchmark (5,000 tabs in 50 windows, {rounds} rounds)");
    println!(
        "  catalog built in p50 {:.2} ms, p99 {:.2} ms",
        report["catalog_build_ms"]["p50"].as_f64().unwrap_or(0.0),
        report["catalog_build_ms"]["p99"].as_f64().unwrap_or(0.0)
    );
    println!(
        "  one search: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} queries: {})",
        report["search_ms"]["p50"].as_f64().unwrap_or(0.0),
        report["search_ms"]["p99"].as_f64().unwrap_or(0.0),
        report["search_ms"]["max"].as_f64().unwrap_or(0.0),
        QUERIES.len(),
        matched.iter().map(|(q, n)| format!("{q:?} {n}")).collect::<Vec<_>>().join(", ")
    );
    let dir = bench_dir();
    let path = dir.join("panel_search.json");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap_or_default()));
    match written {
        Ok(()) => println!("  written to {}", path.display()),
        Err(e) => eprintln!("  could not write {}: {e}", path.display()),
    }
}
