//! Continuation benchmarks: two real `baton-host` processes (devices A and B,
//! paired) and a real `baton-server` on 127.0.0.1, each host behind a
//! byte-counting proxy.
//!
//! Figures:
//! - cross-device latency: A's host acknowledges a changed tab → B's host
//!   has pulled it (`remote_changed`), p50/p99 over `BATON_BENCH_CHANGES`
//!   (default 200) changes;
//! - bytes on the wire (both directions, headers included) for one changed
//!   tab among 5,000, and for a sync with nothing to do;
//! - the first sync of 5,000 tabs in 50 windows: time and bytes.
//!
//! Run: `cargo xtask bench` (or `cargo bench -p baton-e2e --bench continuation`
//! after `cargo xtask build`). Results are printed and written to
//! `target/bench/continuation.json`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use baton_e2e::{CountingProxy, HarnessError, NativeHost, ServerProcess, Traffic};

const BIG_TABS: usize = 5_000;
const BIG_WINDOWS: usize = 50;
const WAIT: Duration = Duration::from_secs(120);

fn tab(id: usize, window: usize, index: usize, title: &str) -> Value {
    json!({
        "id": id, "window_id": window, "index": index,
        "url": format!("https://site{}.example/articles/{id}?ref=bench", id % 97),
        "title": title,
        "fav_icon_url": format!("https://site{}.example/favicon.ico", id % 97),
        "pinned": false, "active": index == 0, "last_accessed_ms": 1_700_000_000_000i64 + id as i64,
    })
}

/// A snapshot of `tabs` tabs spread over `windows` windows; `changed` gets a
/// distinct title so one record differs between two snapshots.
fn snapshot(tabs: usize, windows: usize, changed: Option<(usize, &str)>) -> Value {
    let per_window = tabs.div_ceil(windows);
    let windows_json: Vec<Value> = (0..windows).map(|w| json!({"id": 10_000 + w, "focused": w == 0})).collect();
    let tabs_json: Vec<Value> = (0..tabs)
        .map(|i| {
            let title = match changed {
                Some((c, t)) if c == i => t.to_owned(),
                _ => format!("Article {i}"),
            };
            tab(i + 1, 10_000 + i / per_window, i % per_window, &title)
        })
        .collect();
    json!({"type": "session_snapshot", "windows": windows_json, "tabs": tabs_json})
}

fn is_remote_changed(event: &Value) -> bool {
    event["type"] == "remote_changed"
}

fn count_tabs(devices: &Value) -> usize {
    devices["devices"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .flat_map(|d| d["windows"].as_array().cloned().unwrap_or_default())
                .map(|w| w["tabs"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Pair {
    _dir: tempfile::TempDir,
    _server: ServerProcess,
    proxy_a: CountingProxy,
    proxy_b: CountingProxy,
    a: NativeHost,
    b: NativeHost,
}

async fn pair() -> Result<Pair, HarnessError> {
    let dir = tempfile::tempdir().map_err(|source| HarnessError::Io { context: "temp dir".into(), source })?;
    let server = ServerProcess::start(dir.path().join("server.sqlite3")).await?;
    let proxy_a = CountingProxy::start(server.addr()).await?;
    let proxy_b = CountingProxy::start(server.addr()).await?;
    let mut a = NativeHost::start(&dir.path().join("a"), &proxy_a.url(), "Bench A").await?;
    let mut b = NativeHost::start(&dir.path().join("b"), &proxy_b.url(), "Bench B").await?;
    for host in [&mut a, &mut b] {
        host.wait_status("server connected", WAIT, |s| s["server"]["state"] == "connected").await?;
    }
    let code = a.call(json!({"type": "pair_start"})).await?;
    let code = code["code"].as_str().unwrap_or_default().to_owned();
    b.call(json!({"type": "pair_join", "code": code})).await?;
    Ok(Pair { _dir: dir, _server: server, proxy_a, proxy_b, a, b })
}

/// Waits until B lists exactly `tabs` tabs of A's with `title` present (if given).
async fn wait_b_sees(b: &mut NativeHost, tabs: usize, title: Option<&str>) -> Result<(), HarnessError> {
    let deadline = Instant::now() + WAIT;
    loop {
        let devices = b.call(json!({"type": "list_devices"})).await?;
        let titled = title.is_none_or(|t| devices.to_string().contains(t));
        if count_tabs(&devices) == tabs && titled {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(HarnessError::Timeout {
                what: format!("B to list {tabs} tabs (has {})", count_tabs(&devices)),
                after: WAIT,
                log_tail: b.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn latency(p: &mut Pair, changes: usize) -> Result<Vec<Duration>, HarnessError> {
    p.a.call(snapshot(3, 1, None)).await?;
    wait_b_sees(&mut p.b, 3, Some("Article 2")).await?;
    let mut samples = Vec::with_capacity(changes);
    for i in 0..changes {
        let title = format!("Edited {i}");
        p.b.drain_events();
        p.a.call(snapshot(3, 1, Some((i % 3, &title)))).await?;
        let acked = Instant::now();
        p.b.wait_event("remote_changed on B", WAIT, is_remote_changed).await?;
        samples.push(acked.elapsed());
        // Outside the timing: the change really is what B now lists.
        wait_b_sees(&mut p.b, 3, Some(&title)).await?;
    }
    samples.sort();
    Ok(samples)
}

struct BigSync {
    first_sync: Duration,
    first_a: Traffic,
    first_b: Traffic,
    one_change_a: Traffic,
    one_change_b: Traffic,
    no_change_b: Traffic,
}

async fn big(p: &mut Pair) -> Result<BigSync, HarnessError> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.proxy_a.take();
    p.proxy_b.take();
    let started = Instant::now();
    p.a.call(snapshot(BIG_TABS, BIG_WINDOWS, None)).await?;
    wait_b_sees(&mut p.b, BIG_TABS, Some("Article 4999")).await?;
    let first_sync = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (first_a, first_b) = (p.proxy_a.take(), p.proxy_b.take());

    p.b.drain_events();
    p.a.call(snapshot(BIG_TABS, BIG_WINDOWS, Some((2_500, "One changed tab")))).await?;
    p.b.wait_event("remote_changed on B", WAIT, is_remote_changed).await?;
    // Let trailing frames (acks, socket pings) land before reading the counters.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (one_change_a, one_change_b) = (p.proxy_a.take(), p.proxy_b.take());
    wait_b_sees(&mut p.b, BIG_TABS, Some("One changed tab")).await?;

    p.proxy_b.take();
    p.b.call(json!({"type": "sync_now"})).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let no_change_b = p.proxy_b.take();
    Ok(BigSync { first_sync, first_a, first_b, one_change_a, one_change_b, no_change_b })
}

async fn run() -> Result<Value, HarnessError> {
    let changes: usize = std::env::var("BATON_BENCH_CHANGES").ok().and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut p = pair().await?;
    let samples = latency(&mut p, changes).await?;
    let mut p = pair().await?;
    let big = big(&mut p).await?;
    let t = |t: Traffic| json!({"to_server": t.to_server, "to_client": t.to_client, "total": t.total()});
    Ok(json!({
        "latency_ms": {
            "changes": samples.len(),
            "p50": ms(percentile(&samples, 50.0)),
            "p99": ms(percentile(&samples, 99.0)),
            "max": ms(percentile(&samples, 100.0)),
        },
        "first_sync_5000_tabs": {
            "seconds": big.first_sync.as_secs_f64(),
            "bytes_a": t(big.first_a),
            "bytes_b": t(big.first_b),
        },
        "one_changed_tab_among_5000": {"bytes_a": t(big.one_change_a), "bytes_b": t(big.one_change_b)},
        "no_change_sync": {"bytes_b": t(big.no_change_b)},
    }))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours means skip.
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && !"continuation".contains(a.as_str())) {
        return;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run()) {
        Ok(report) => {
            let l = &report["latency_ms"];
            println!("continuation benchmark (loopback, 2 hosts, 1 server)");
            println!(
                "  cross-device latency over {} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                l["changes"],
                l["p50"].as_f64().unwrap_or(0.0),
                l["p99"].as_f64().unwrap_or(0.0),
                l["max"].as_f64().unwrap_or(0.0)
            );
            let f = &report["first_sync_5000_tabs"];
            println!(
                "  first sync of 5,000 tabs: {:.2} s; A→server {} B, B↔server {} B",
                f["seconds"].as_f64().unwrap_or(0.0),
                f["bytes_a"]["total"],
                f["bytes_b"]["total"]
            );
            let o = &report["one_changed_tab_among_5000"];
            println!("  one changed tab among 5,000: A {} B, B {} B", o["bytes_a"]["total"], o["bytes_b"]["total"]);
            println!("  no-change sync: B {} B", report["no_change_sync"]["bytes_b"]["total"]);
            baton_e2e::artifacts::write_bench_report("continuation", &report);
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
