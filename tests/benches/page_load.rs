//! What Baton costs every page: the content script loads on each page the
//! person visits (continuation listens for form input; a tab can be shared
//! at any time), so its start-up is paid on every page load.
//!
//! Three browsers in turn, each with a fresh profile: no extension, an
//! extension whose content script is empty (what any content script costs:
//! the isolated world and its bindings) and Baton's unpacked build. Each
//! loads a small article page with a form `BATON_BENCH_RUNS` times (default
//! 7) per round, three rounds, alternating, every load in a new tab. The
//! figure is the main-thread time of the page's renderer (Chromium's
//! `TaskDuration`, and `ScriptDuration` within it) from before the
//! navigation to 2 s after the load, when the content script has started.
//! Baton's own cost is its median over the empty content script's.
//! `BATON_BENCH_EXTENSION=<dir>` measures another unpacked build.
//! Writes `target/bench/page_load.json`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use baton_e2e::bench::{self, median};
use baton_e2e::{artifacts, pages, Browser, BrowserOptions};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
/// After the load: the content script's Wasm is fetched, compiled and started.
const SETTLE: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;

const PAGE: &str = r#"<!doctype html><html><head><meta charset=utf-8><title>An article</title>
<style>body{font:16px/1.5 sans-serif;max-width:40em;margin:2em auto}</style></head><body>
<h1>An article</h1>
<p>Some text with <a href="/elsewhere">a link</a>, <em>emphasis</em> and <strong>weight</strong>.</p>
<p>A second paragraph, long enough to wrap across a few lines of the page at the width it is given here.</p>
<ul><li>one</li><li>two</li><li>three</li></ul>
<form><label>Name <input name="name"></label> <label>Note <textarea name="note"></textarea></label>
<button type="button">Send</button></form>
</body></html>"#;

#[derive(Clone, Copy)]
enum Peer {
    NoExtension,
    EmptyContentScript,
    Baton,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::NoExtension => "no extension",
            Peer::EmptyContentScript => "empty content script",
            Peer::Baton => "Baton",
        }
    }
}

/// An extension whose only content script does nothing, injected where and
/// when Baton's is.
fn empty_extension(dir: &Path, baton: &Path) -> PathBuf {
    let manifest: Value = std::fs::read(baton.join("manifest.json"))
        .ok()
        .and_then(|m| serde_json::from_slice(&m).ok())
        .expect("Baton's manifest.json");
    let baton_script = &manifest["content_scripts"][0];
    let out = dir.join("empty-extension");
    std::fs::create_dir_all(&out).expect("extension dir");
    let empty = json!({
        "manifest_version": 3,
        "name": "Empty content script",
        "version": "1.0",
        "content_scripts": [{
            "matches": baton_script["matches"],
            "run_at": baton_script["run_at"],
            "all_frames": baton_script["all_frames"],
            "js": ["empty.js"],
        }],
    });
    std::fs::write(out.join("manifest.json"), empty.to_string()).expect("manifest");
    std::fs::write(out.join("empty.js"), "void 0;\n").expect("script");
    out
}

/// `(task, script)` milliseconds of each load, in one browser.
async fn loads(extension: Option<PathBuf>, url: &str, n: usize) -> Vec<(f64, f64)> {
    let profile = tempfile::tempdir().expect("temp dir");
    let browser = Browser::launch(BrowserOptions {
        extension_dir: extension,
        env: vec![],
        user_data_dir: profile.path().to_path_buf(),
    })
    .await
    .expect("Chromium");
    // The browser's own start-up (and the extension's worker) out of the way.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let page = browser.cdp().open_page("about:blank").await.expect("tab");
        page.call("Performance.enable", json!({})).await.expect("Performance.enable");
        let before = page.call("Performance.getMetrics", json!({})).await.expect("metrics");
        page.navigate(url, WAIT).await.expect("load");
        tokio::time::sleep(SETTLE).await;
        let after = page.call("Performance.getMetrics", json!({})).await.expect("metrics");
        let ms = |name: &str| (metric(&after, name) - metric(&before, name)) * 1000.0;
        out.push((ms("TaskDuration"), ms("ScriptDuration")));
        let _ = page.call("Page.close", json!({})).await;
    }
    out
}

fn metric(metrics: &Value, name: &str) -> f64 {
    metrics["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == name)
        .and_then(|m| m["value"].as_f64())
        .unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = bench::runs(7);
    let baton = bench::extension_under_test();
    let scratch = tempfile::tempdir().expect("temp dir");
    let empty = empty_extension(scratch.path(), &baton);
    let url = format!("{}/article", pages::serve_page(PAGE, &[]).await.expect("page server"));
    println!("page load benchmark: {ROUNDS} rounds of {n} loads per browser, main-thread time of the page's renderer");

    let peers = [Peer::NoExtension, Peer::EmptyContentScript, Peer::Baton];
    let mut all: Vec<Vec<(f64, f64)>> = vec![Vec::new(); peers.len()];
    for round in 1..=ROUNDS {
        for (i, peer) in peers.iter().enumerate() {
            let extension = match peer {
                Peer::NoExtension => None,
                Peer::EmptyContentScript => Some(empty.clone()),
                Peer::Baton => Some(baton.clone()),
            };
            let got = loads(extension, &url, n).await;
            println!(
                "  round {round}  {:22} task {:6.1} ms  script {:5.1} ms (medians)",
                peer.name(),
                median(got.iter().map(|l| l.0).collect()),
                median(got.iter().map(|l| l.1).collect()),
            );
            all[i].extend(got);
        }
    }

    let task: Vec<f64> = all.iter().map(|l| median(l.iter().map(|x| x.0).collect())).collect();
    let script: Vec<f64> = all.iter().map(|l| median(l.iter().map(|x| x.1).collect())).collect();
    println!("overall medians over {} loads each:", ROUNDS * n);
    for (i, peer) in peers.iter().enumerate() {
        println!("  {:22} task {:6.1} ms  script {:5.1} ms", peer.name(), task[i], script[i]);
    }
    let own = task[2] - task[1];
    println!(
        "  Baton's own cost per page load: {own:.1} ms of main-thread time over an empty content script \
         ({:.2}× its page load, {:.2}× the page without extensions)",
        task[2] / task[1],
        task[2] / task[0]
    );
    let mut report = serde_json::Map::new();
    for (i, peer) in peers.iter().enumerate() {
        report.insert(peer.name().into(), json!({"task_ms": task[i], "script_ms": script[i], "loads": all[i].len()}));
    }
    report.insert("baton_own_task_ms".into(), json!(own));
    artifacts::write_bench_report("page_load", &Value::Object(report));
}
