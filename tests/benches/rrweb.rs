//! Capture benchmark: Baton's recorder (content script, Wasm) against rrweb's
//! `record()` (npm `rrweb`, injected into the page), in the same headless
//! Chromium, on the same two pages: a generated 10,000-node table and a
//! form-heavy page. Each run loads the page afresh.
//!
//! Figures per page and recorder:
//! - snapshot time: rrweb's synchronous `record()` call; Baton's start to
//!   the emitted snapshot (time-sliced, so wall time includes yields);
//! - longest main-thread task (PerformanceObserver `longtask`, which only
//!   reports tasks over 50 ms) while the snapshot is taken, and over the
//!   whole run (where the page's own scripted mutations, which restyle the
//!   whole page, show too); Baton's own longest slice is reported as well;
//! - bytes: snapshot, then snapshot plus `BATON_BENCH_SECONDS` (default 60)
//!   of scripted mutations and typing, as JSON and as deflated per frame
//!   (the host deflates every frame before encrypting it).
//!
//! Each page and recorder is run `BATON_BENCH_RUNS` times (default 3),
//! alternating, each on a fresh page load: the first run has the mutation
//! phase and gives the bytes; snapshot time is the median over all runs and
//! the longest task the worst. Baton's snapshot time runs from start to the
//! snapshot handed to the sink, serialized (as rrweb's includes its `emit`).
//! `BATON_BENCH_DUMP=<dir>` writes the first run's frames there;
//! `BATON_BENCH_PAGES=form` runs only the named pages;
//! `BATON_BENCH_WARM=code` re-parses the page's body after the warm-up, so
//! the warm figure has the code warm but every node, wrapper and string
//! fresh (which of the two a cold snapshot waits for);
//! `BATON_BENCH_PROFILE=cpu|compile|1` looks closer (see [`Profile`]).
//!
//! Run: `cargo bench -p baton-e2e --bench rrweb` after `cargo xtask build`
//! (rrweb is installed from npm into `tests/bench-pages/node_modules` on
//! first run). Results are printed and written to `target/bench/rrweb.json`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use baton_e2e::bench::{self, median};
use baton_e2e::cdp::Cdp;
use baton_e2e::{artifacts, pages, Browser, BrowserOptions, Reply, Session};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(30);
/// Between a warm-up recording and the measured one.
const WARM_UP: Duration = Duration::from_millis(1_000);

fn warm_code_only() -> bool {
    std::env::var("BATON_BENCH_WARM").is_ok_and(|w| w == "code")
}

/// After a warm-up with `BATON_BENCH_WARM=code`: the same body, parsed anew.
async fn fresh_nodes(session: &Session) {
    if warm_code_only() {
        eval_in(session, None, "document.body.innerHTML = document.body.innerHTML; true").await;
        tokio::time::sleep(WARM_UP).await;
    }
}

fn bench_pages() -> PathBuf {
    artifacts::repo_root().join("tests").join("bench-pages")
}

fn rrweb_script() -> PathBuf {
    bench_pages().join("node_modules/rrweb/dist/rrweb.min.js")
}

fn ensure_rrweb() {
    if rrweb_script().is_file() {
        return;
    }
    eprintln!("installing rrweb from npm into {}", bench_pages().display());
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(bench_pages())
        .status()
        .expect("run npm");
    assert!(status.success() && rrweb_script().is_file(), "npm install rrweb failed");
}

fn table_page() -> String {
    let mut rows = String::new();
    for r in 0..1_112 {
        rows.push_str(&format!("<tr><td>r{r}c0</td><td>r{r}c1</td><td>r{r}c2</td><td>r{r}c3</td></tr>"));
    }
    page("Big table", &format!("<table><tbody>{rows}</tbody></table>"))
}

fn form_page() -> String {
    let mut body = String::from("<form>");
    for i in 0..150 {
        body.push_str(&format!(
            "<fieldset><legend>Section {i}</legend>\
             <label>Name {i} <input type=text name=name{i} value=\"prefilled {i}\"></label>\
             <label>Email <input type=email name=email{i}></label>\
             <label>Topic <select name=topic{i}><option>Billing</option><option>Bug</option>\
             <option>Account</option><option>Other</option></select></label>\
             <label><input type=checkbox name=ok{i}> Agree</label>\
             <textarea name=msg{i} rows=2>Message {i}</textarea></fieldset>"
        ));
    }
    body.push_str("</form>");
    page("Form-heavy", &body)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title>\
         <style>body{{font:14px sans-serif}} td{{padding:2px}} fieldset{{margin:4px}}</style>\
         <script src=\"/rrweb.min.js\"></script></head><body>{body}</body></html>"
    )
}

async fn serve() -> String {
    let rrweb = std::fs::read(rrweb_script()).expect("read rrweb");
    pages::serve(move |request| match request.path() {
        "/table" => Reply::html(table_page()),
        "/form" => Reply::html(form_page()),
        "/rrweb.min.js" => Reply::ok("text/javascript", rrweb.clone()),
        _ => Reply::ok("text/plain", Vec::new()),
    })
    .await
    .expect("start the page server")
}

/// Mutations and typing, the same for both recorders (seeded).
const MUTATE: &str = r#"
window.__mutate = (seconds) => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const end = performance.now() + seconds * 1000;
  const tick = () => {
    const tds = document.getElementsByTagName('td');
    for (let i = 0; i < 5 && tds.length; i++) tds[Math.floor(rnd() * tds.length)].textContent = 'v' + Math.floor(rnd() * 1e6);
    const tb = document.querySelector('tbody');
    if (tb) {
      const tr = document.createElement('tr');
      tr.innerHTML = '<td>new</td><td>row</td><td>' + Math.floor(rnd() * 1e6) + '</td><td>x</td>';
      tb.appendChild(tr);
      tb.removeChild(tb.firstElementChild);
    }
    const legends = document.getElementsByTagName('legend');
    if (legends.length) legends[Math.floor(rnd() * legends.length)].textContent = 'Section ' + Math.floor(rnd() * 1e6);
    const fields = document.querySelectorAll('input[type=text], input[type=email], textarea');
    if (fields.length) {
      const el = fields[Math.floor(rnd() * fields.length)];
      el.value += 'ab';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }
    document.body.classList.toggle('flip');
    if (performance.now() < end) setTimeout(tick, 100);
  };
  tick();
  return true;
};
window.__lt = [];
new PerformanceObserver(l => l.getEntries().forEach(e => window.__lt.push([e.startTime, e.duration]))).observe({ type: 'longtask' });
true
"#;

struct Run {
    snapshot_ms: f64,
    /// The longest main-thread task while the snapshot was taken (for
    /// rrweb at least its synchronous `record()`).
    snapshot_task_ms: f64,
    /// The longest over the whole run, the page's own work included (its
    /// scripted mutations restyle the page).
    longest_task_ms: f64,
    own_longest_ms: Option<f64>,
    /// Baton: time spent working during the snapshot (wall time less yields), and slices.
    own_work: Option<(f64, u64)>,
    snapshot_bytes: usize,
    snapshot_deflated: usize,
    total_bytes: usize,
    total_deflated: usize,
    frames: usize,
    /// Every frame's JSON, for `BATON_BENCH_DUMP`.
    dump: Vec<String>,
}

/// Median snapshot time, worst longest task, the first run's bytes (the
/// only run with mutations).
fn combine(mut runs: Vec<Run>) -> Run {
    let mut times: Vec<f64> = runs.iter().map(|r| r.snapshot_ms).collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let longest = runs.iter().map(|r| r.longest_task_ms).fold(0.0, f64::max);
    let during = runs.iter().map(|r| r.snapshot_task_ms).fold(0.0, f64::max);
    let own = runs.iter().filter_map(|r| r.own_longest_ms).reduce(f64::max);
    let mut work: Vec<(f64, u64)> = runs.iter().filter_map(|r| r.own_work).collect();
    work.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut first = runs.swap_remove(0);
    first.snapshot_ms = median;
    first.longest_task_ms = longest;
    first.snapshot_task_ms = during;
    first.own_longest_ms = own;
    first.own_work = work.get(work.len() / 2).copied();
    first
}

fn deflated(s: &str) -> usize {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(s.as_bytes());
    e.finish().map(|v| v.len()).unwrap_or(0)
}

async fn eval_in(session: &Session, context: Option<i64>, expr: &str) -> Value {
    let mut params = json!({"expression": expr, "returnByValue": true, "awaitPromise": true});
    if let Some(c) = context {
        params["contextId"] = json!(c);
    }
    let reply = session.call("Runtime.evaluate", params).await.expect("evaluate");
    assert!(reply.get("exceptionDetails").is_none(), "{expr}: {reply}");
    reply["result"]["value"].clone()
}

async fn open(cdp: &Cdp, url: &str) -> (Session, i64) {
    let session = cdp.open_page("about:blank").await.expect("page");
    let mut events = cdp.events();
    session.call("Runtime.enable", json!({})).await.expect("Runtime.enable");
    session.navigate(url, WAIT).await.expect("load");
    let context = loop {
        let ev = Cdp::wait_event(&mut events, "Runtime.executionContextCreated", Some(session.id()), WAIT)
            .await
            .expect("isolated world");
        let ctx = &ev.params["context"];
        if ctx["auxData"]["type"] == "isolated"
            && ctx["name"] == "Baton"
            && ctx["auxData"]["frameId"] == session.target_id()
        {
            break ctx["id"].as_i64().expect("id");
        }
    };
    let started = Instant::now();
    loop {
        let reply = session
            .call(
                "Runtime.evaluate",
                json!({"expression": "wasm_bindgen.debug_capture_stats()", "contextId": context, "returnByValue": true}),
            )
            .await
            .expect("evaluate");
        if reply.get("exceptionDetails").is_none() {
            break;
        }
        assert!(started.elapsed() < WAIT, "content script Wasm not loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    (session, context)
}

/// The longest task overlapping `[t0, t0 + window_ms]`, and the longest of
/// all, from `window.__lt` (`[startTime, duration]` pairs).
fn longest(lt: &Value, t0: f64, window_ms: f64) -> (f64, f64) {
    let tasks: Vec<(f64, f64)> =
        lt.as_array().into_iter().flatten().filter_map(|e| Some((e.get(0)?.as_f64()?, e.get(1)?.as_f64()?))).collect();
    let during =
        tasks.iter().filter(|(start, d)| *start < t0 + window_ms && start + d > t0).map(|t| t.1).fold(0.0, f64::max);
    (during, tasks.iter().map(|t| t.1).fold(0.0, f64::max))
}

async fn run_rrweb(cdp: &Cdp, url: &str, seconds: u64, warm: bool) -> Run {
    let (session, _) = open(cdp, url).await;
    eval_in(&session, None, MUTATE).await;
    if warm {
        // A first recording, stopped: its code is compiled and warm.
        eval_in(&session, None, "rrweb.record({ emit() {}, maskAllInputs: true })(); true").await;
        tokio::time::sleep(WARM_UP).await;
        fresh_nodes(&session).await;
    }
    let snapshot_ms = eval_in(
        &session,
        None,
        "window.__events = []; const t0 = performance.now(); window.__t0 = t0; \
         window.__stopRecord = rrweb.record({ emit(e) { window.__events.push(JSON.stringify(e)); }, maskAllInputs: true }); \
         window.__snapCount = window.__events.length; performance.now() - t0",
    )
    .await
    .as_f64()
    .unwrap_or(0.0);
    let snap: Vec<String> =
        serde_json::from_value(eval_in(&session, None, "window.__events.slice(0, window.__snapCount)").await)
            .unwrap_or_default();
    eval_in(&session, None, &format!("window.__mutate({seconds})")).await;
    tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(500)).await;
    let all: Vec<String> = serde_json::from_value(eval_in(&session, None, "window.__events").await).unwrap_or_default();
    let lt = eval_in(&session, None, "window.__lt").await;
    let t0 = eval_in(&session, None, "window.__t0").await.as_f64().unwrap_or(0.0);
    let _ = session.close().await;
    let (during, overall) = longest(&lt, t0, snapshot_ms);
    Run {
        snapshot_ms,
        snapshot_task_ms: during.max(snapshot_ms),
        longest_task_ms: overall.max(snapshot_ms),
        own_longest_ms: None,
        own_work: None,
        snapshot_bytes: snap.iter().map(String::len).sum(),
        snapshot_deflated: snap.iter().map(|s| deflated(s)).sum(),
        total_bytes: all.iter().map(String::len).sum(),
        total_deflated: all.iter().map(|s| deflated(s)).sum(),
        frames: all.len(),
        dump: all,
    }
}

async fn run_baton(cdp: &Cdp, url: &str, seconds: u64, warm: bool) -> Run {
    let (session, ctx) = open(cdp, url).await;
    eval_in(&session, None, MUTATE).await;
    if warm {
        // What sharing does while the visitor waits for the operator.
        eval_in(&session, Some(ctx), "wasm_bindgen.debug_capture_prepare('', '')").await;
        tokio::time::sleep(WARM_UP).await;
        fresh_nodes(&session).await;
    }
    let profile = Profile::from_env();
    if profile == Profile::Cpu {
        profile_start(&session).await;
    }
    let compile = match profile {
        Profile::Compile if !warm => CompileTrace::start(cdp).await,
        _ => None,
    };
    let t0 = eval_in(&session, None, "window.__t0 = performance.now()").await.as_f64().unwrap_or(0.0);
    eval_in(&session, Some(ctx), "wasm_bindgen.debug_capture_start('', '')").await;
    let started = Instant::now();
    let stats = loop {
        let s = eval_in(&session, Some(ctx), "wasm_bindgen.debug_capture_stats()").await;
        let s: Value = serde_json::from_str(s.as_str().unwrap_or("{}")).unwrap_or(Value::Null);
        if s["snapshot_ms"].as_f64().unwrap_or(0.0) > 0.0 {
            if profile != Profile::Off {
                println!("  stats {s}");
            }
            break s;
        }
        assert!(started.elapsed() < WAIT, "no snapshot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if let Some(trace) = compile {
        trace.finish(cdp).await;
    }
    if profile == Profile::Cpu {
        profile_stop(&session).await;
    } else if profile == Profile::Keyframes {
        // More samples: the same snapshot, taken again.
        let mut best: Option<Value> = None;
        for _ in 0..20 {
            eval_in(&session, Some(ctx), "wasm_bindgen.debug_capture_keyframe()").await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            let s = eval_in(&session, Some(ctx), "wasm_bindgen.debug_capture_stats()").await;
            let s: Value = serde_json::from_str(s.as_str().unwrap_or("{}")).unwrap_or(Value::Null);
            if best.as_ref().is_none_or(|b| s["work_ms"].as_f64() < b["work_ms"].as_f64()) {
                best = Some(s);
            }
        }
        println!("  best of 20 keyframes: {}", best.unwrap_or(Value::Null));
    }
    let take = "wasm_bindgen.debug_capture_take()";
    let frames_of = |v: Value| -> Vec<String> {
        let v: Value = serde_json::from_str(v.as_str().unwrap_or("[]")).unwrap_or(Value::Null);
        v.as_array().into_iter().flatten().map(|f| f["frame"].to_string()).collect()
    };
    let snap = frames_of(eval_in(&session, Some(ctx), take).await);
    eval_in(&session, None, &format!("window.__mutate({seconds})")).await;
    tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(500)).await;
    let lt = eval_in(&session, None, "window.__lt").await;
    let stats_after: Value = serde_json::from_str(
        eval_in(&session, Some(ctx), "wasm_bindgen.debug_capture_stats()").await.as_str().unwrap_or("{}"),
    )
    .unwrap_or(Value::Null);
    let rest = frames_of(eval_in(&session, Some(ctx), take).await);
    let _ = session.close().await;
    let all: Vec<&String> = snap.iter().chain(rest.iter()).collect();
    let snapshot_ms = stats["snapshot_ms"].as_f64().unwrap_or(0.0);
    let (during, overall) = longest(&lt, t0, snapshot_ms);
    Run {
        snapshot_ms,
        snapshot_task_ms: during,
        longest_task_ms: overall,
        own_longest_ms: stats_after["max_slice_ms"].as_f64(),
        own_work: stats["work_ms"].as_f64().map(|w| (w, stats["slices"].as_u64().unwrap_or(0))),
        snapshot_bytes: snap.iter().map(String::len).sum(),
        snapshot_deflated: snap.iter().map(|s| deflated(s)).sum(),
        total_bytes: all.iter().map(|s| s.len()).sum(),
        total_deflated: all.iter().map(|s| deflated(s)).sum(),
        frames: all.len(),
        dump: all.into_iter().cloned().collect(),
    }
}

/// `BATON_BENCH_PROFILE`: what to look at while Baton takes its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Off,
    /// `cpu`: sample the page's main thread; print the functions with the
    /// most self time.
    Cpu,
    /// `compile`: trace what V8 compiles during the first (cold) snapshot.
    Compile,
    /// Any other value: print the recorder's stats, and the best of 20
    /// keyframes taken again.
    Keyframes,
}

impl Profile {
    fn from_env() -> Profile {
        match std::env::var("BATON_BENCH_PROFILE").as_deref() {
            Err(_) => Profile::Off,
            Ok("cpu") => Profile::Cpu,
            Ok("compile") => Profile::Compile,
            Ok(_) => Profile::Keyframes,
        }
    }
}

async fn profile_start(session: &Session) {
    let _ = session.call("Profiler.enable", json!({})).await;
    let _ = session.call("Profiler.setSamplingInterval", json!({"interval": 25})).await;
    let _ = session.call("Profiler.start", json!({})).await;
}

/// The Wasm compile work V8 does while a cold snapshot runs, from a trace
/// of the `v8.wasm` category: functions compiled lazily on the main thread
/// (wall time against the thread's own CPU time shows how long it waited
/// for a core; the bytes of Wasm they hold, and the largest of them by
/// name) and optimizing compiles on background threads (which, on a
/// machine with few cores, take the main thread's core from it).
struct CompileTrace {
    events: tokio::task::JoinHandle<Vec<Value>>,
}

impl CompileTrace {
    const EVENTS: [&str; 3] = ["wasm.CompileLazy", "wasm.CompileBaseline", "wasm.ExecuteCompilationUnits"];

    async fn start(cdp: &Cdp) -> Option<CompileTrace> {
        let mut rx = cdp.events();
        let events = tokio::spawn(async move {
            let mut kept = Vec::new();
            loop {
                match rx.recv().await {
                    Ok(e) if e.method == "Tracing.dataCollected" => kept.extend(
                        e.params["value"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|x| Self::EVENTS.iter().any(|n| x["name"] == *n))
                            .cloned(),
                    ),
                    Ok(e) if e.method == "Tracing.tracingComplete" => break,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
            kept
        });
        let config = json!({"transferMode": "ReportEvents", "traceConfig": {"includedCategories": ["v8.wasm", "disabled-by-default-v8.wasm.detailed"]}});
        cdp.call("Tracing.start", config).await.ok()?;
        Some(CompileTrace { events })
    }

    async fn finish(self, cdp: &Cdp) {
        let _ = cdp.call("Tracing.end", json!({})).await;
        let Ok(events) = self.events.await else { return };
        let of = |name: &'static str| events.iter().filter(move |e| e["name"] == name);
        let ms = |name: &'static str, key: &str| of(name).filter_map(|e| e[key].as_f64()).sum::<f64>() / 1000.0;
        let threads: std::collections::HashSet<_> =
            of("wasm.ExecuteCompilationUnits").filter_map(|e| e["tid"].as_u64()).collect();
        println!(
            "  compiled during the snapshot: {} functions lazily on the main thread in {:.1} ms ({:.1} ms of its CPU); \
             optimizing in the background {:.1} ms of CPU on {} threads",
            of("wasm.CompileLazy").count(),
            ms("wasm.CompileLazy", "dur"),
            ms("wasm.CompileLazy", "tdur"),
            ms("wasm.ExecuteCompilationUnits", "tdur"),
            threads.len()
        );
        let mut compiled: Vec<(u64, u32)> = of("wasm.CompileBaseline")
            .filter_map(|e| Some((e["args"]["bodySize"].as_u64()?, e["args"]["funcIndex"].as_u64()? as u32)))
            .collect();
        compiled.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        let names = artifacts::extension_dir()
            .ok()
            .and_then(|d| std::fs::read(d.join("wasm/content/baton_extension_bg.wasm")).ok())
            .map(|wasm| wasm_function_names(&wasm))
            .unwrap_or_default();
        println!("  their bodies: {} bytes of Wasm; the largest:", compiled.iter().map(|c| c.0).sum::<u64>());
        for (size, index) in compiled.iter().take(10) {
            println!("    {size:6}  {}", names.get(index).map_or("?", |n| n.as_str()));
        }
    }
}

/// Function names by index, from a Wasm module's `name` section (empty
/// when it has none).
fn wasm_function_names(wasm: &[u8]) -> std::collections::HashMap<u32, String> {
    fn leb(b: &[u8], at: &mut usize) -> Option<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            value |= u32::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    fn bytes<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
        let len = leb(b, at)? as usize;
        let s = b.get(*at..*at + len)?;
        *at += len;
        Some(s)
    }
    let mut names = std::collections::HashMap::new();
    let mut at = 8; // magic and version
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let Some(section) = bytes(wasm, &mut at) else { break };
        let mut s = 0;
        if id != 0 || bytes(section, &mut s) != Some(b"name".as_slice()) {
            continue;
        }
        // Subsections: id 1 holds the function names.
        while s < section.len() {
            let sub = section[s];
            s += 1;
            let Some(body) = bytes(section, &mut s) else { break };
            if sub != 1 {
                continue;
            }
            let mut b = 0;
            let count = leb(body, &mut b).unwrap_or(0);
            for _ in 0..count {
                let (Some(index), Some(name)) = (leb(body, &mut b), bytes(body, &mut b)) else { break };
                let name = String::from_utf8_lossy(name);
                // Without the symbol hash Rust appends (`::h` and 16 hex digits).
                let name = match name.rsplit_once("::h") {
                    Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|c| c.is_ascii_hexdigit()) => path,
                    _ => &name,
                };
                names.insert(index, name.to_owned());
            }
        }
    }
    names
}

async fn profile_stop(session: &Session) {
    let Ok(reply) = session.call("Profiler.stop", json!({})).await else { return };
    let profile = &reply["profile"];
    let mut self_hits: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut total = 0;
    for node in profile["nodes"].as_array().into_iter().flatten() {
        let hits = node["hitCount"].as_u64().unwrap_or(0);
        let frame = &node["callFrame"];
        let url = frame["url"].as_str().unwrap_or("");
        let file = url.rsplit('/').next().unwrap_or("");
        let name = match frame["functionName"].as_str().unwrap_or("?") {
            // Anonymous functions: where they are.
            "" => format!("<anonymous {}:{}> ({file})", frame["lineNumber"], frame["columnNumber"]),
            named => format!("{named} ({file})"),
        };
        if !matches!(frame["functionName"].as_str(), Some("(idle)" | "(program)")) {
            total += hits;
        }
        *self_hits.entry(name).or_default() += hits;
    }
    let mut groups: std::collections::BTreeMap<&str, u64> = Default::default();
    for (name, hits) in &self_hits {
        let group = if name.contains("(baton_extension.js)") {
            "JS glue"
        } else if name.starts_with("wasm-to-js") || name.starts_with("js-to-wasm") {
            "boundary"
        } else if name.contains("_bg.wasm") {
            "Wasm"
        } else if name.starts_with("(idle)") {
            "idle"
        } else {
            "other"
        };
        *groups.entry(group).or_default() += hits;
    }
    println!("  profile groups: {groups:?}");
    let mut top: Vec<_> = self_hits.into_iter().collect();
    top.sort_by_key(|t| std::cmp::Reverse(t.1));
    println!("  profile: {total} busy samples of 25 µs");
    for (name, hits) in top.into_iter().filter(|(n, _)| !n.starts_with("(idle)")).take(16) {
        println!("    {hits:6}  {name}");
    }
}

fn run_json(r: &Run) -> Value {
    json!({
        "snapshot_ms": r.snapshot_ms, "longest_task_during_snapshot_ms": r.snapshot_task_ms, "longest_task_ms": r.longest_task_ms, "own_longest_slice_ms": r.own_longest_ms,
        "own_work_ms": r.own_work.map(|w| w.0), "own_slices": r.own_work.map(|w| w.1),
        "snapshot_bytes": r.snapshot_bytes, "snapshot_deflated": r.snapshot_deflated,
        "total_bytes": r.total_bytes, "total_deflated": r.total_deflated, "frames": r.frames,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    ensure_rrweb();
    let seconds: u64 = std::env::var("BATON_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let runs = bench::runs(3);
    let base = serve().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let browser = Browser::launch(BrowserOptions {
        extension_dir: Some(bench::extension_under_test()),
        env: vec![],
        user_data_dir: dir.path().to_path_buf(),
    })
    .await
    .expect("Chromium");
    let mut results = serde_json::Map::new();
    println!(
        "capture benchmark, {seconds} s of mutations per run, {runs} runs per recorder and page \
         (snapshot: median; longest tasks: worst, 0 = none over 50 ms; bytes: first run)"
    );
    // `BATON_BENCH_PAGES=form` (comma-separated): only those pages.
    let only = std::env::var("BATON_BENCH_PAGES").ok();
    for name in ["table", "form"] {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|p| p == name)) {
            continue;
        }
        let url = format!("{base}/{name}");
        // Alternate the recorders; snapshot times are the median over the
        // runs, longest tasks the worst, bytes those of the first run.
        let mut rrs = Vec::new();
        let mut bts = Vec::new();
        let mut warm_rr = Vec::new();
        let mut warm_bt = Vec::new();
        for i in 0..runs {
            // Only the first run has the mutation phase; the others time snapshots.
            let secs = if i == 0 { seconds } else { 0 };
            rrs.push(run_rrweb(browser.cdp(), &url, secs, false).await);
            bts.push(run_baton(browser.cdp(), &url, secs, false).await);
            warm_rr.push(run_rrweb(browser.cdp(), &url, 0, true).await.snapshot_ms);
            warm_bt.push(run_baton(browser.cdp(), &url, 0, true).await.snapshot_ms);
        }
        let warm_rr = median(warm_rr);
        let warm_bt = median(warm_bt);
        if let Ok(dir) = std::env::var("BATON_BENCH_DUMP") {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(format!("{dir}/{name}-baton.json"), format!("[{}]", bts[0].dump.join(",\n")));
            let _ = std::fs::write(format!("{dir}/{name}-rrweb.json"), format!("[{}]", rrs[0].dump.join(",\n")));
        }
        let rr = combine(rrs);
        let bt = combine(bts);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        println!("page {name}:");
        for (who, r) in [("rrweb", &rr), ("baton", &bt)] {
            println!(
                "  {who:5}  snapshot {:7.1} ms  longest task during it {:5.1} ms (whole run {:5.1} ms){}  snapshot {:8} B ({:7} deflated)  total {:8} B ({:7} deflated) in {} frames",
                r.snapshot_ms,
                r.snapshot_task_ms,
                r.longest_task_ms,
                r.own_longest_ms
                    .map(|s| format!(
                        " (own slices ≤ {s:.1} ms; working {:.1} ms in {} slices)",
                        r.own_work.map(|w| w.0).unwrap_or(0.0),
                        r.own_work.map(|w| w.1).unwrap_or(0)
                    ))
                    .unwrap_or_default(),
                r.snapshot_bytes,
                r.snapshot_deflated,
                r.total_bytes,
                r.total_deflated,
                r.frames
            );
        }
        let ratios = json!({
            "snapshot_time": ratio(bt.snapshot_ms, rr.snapshot_ms),
            "snapshot_time_warm": ratio(warm_bt, warm_rr),
            "bytes": ratio(bt.total_bytes as f64, rr.total_bytes as f64),
            "bytes_deflated": ratio(bt.total_deflated as f64, rr.total_deflated as f64),
            // What Baton's host sends (deflated frames) against rrweb's emitted JSON.
            "wire_vs_rrweb_json": ratio(bt.total_deflated as f64, rr.total_bytes as f64),
            "snapshot_bytes": ratio(bt.snapshot_bytes as f64, rr.snapshot_bytes as f64),
            "snapshot_bytes_deflated": ratio(bt.snapshot_deflated as f64, rr.snapshot_deflated as f64),
        });
        let r = |k: &str| ratios[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "  warm (after a first recording; Baton: as sharing prepares{}): rrweb {warm_rr:.1} ms, baton {warm_bt:.1} ms, ratio {:.2}",
            if warm_code_only() { "; then the page re-parsed" } else { "" },
            r("snapshot_time_warm")
        );
        println!(
            "  ratios baton/rrweb: snapshot time {:.2} (target ≤ 0.67); bytes raw/raw {:.2} (target ≤ 0.5), \
             deflated/deflated {:.2}, baton wire (deflated)/rrweb JSON {:.3}; snapshot only: raw {:.2}, deflated {:.2}",
            r("snapshot_time"),
            r("bytes"),
            r("bytes_deflated"),
            r("wire_vs_rrweb_json"),
            r("snapshot_bytes"),
            r("snapshot_bytes_deflated")
        );
        results.insert(
            name.into(),
            json!({"rrweb": run_json(&rr), "baton": run_json(&bt), "warm_ms": {"rrweb": warm_rr, "baton": warm_bt}, "ratios": ratios}),
        );
    }
    let out = artifacts::target_dir().join("bench");
    let _ = std::fs::create_dir_all(&out);
    let path = out.join("rrweb.json");
    let _ = std::fs::write(&path, serde_json::to_string_pretty(&Value::Object(results)).unwrap_or_default());
    println!("results: {}", path.display());
}
