//! Token delta sync with the server.
//!
//! Upload: the outbox is sent oldest first, one collection run at a time,
//! each change naming the token the server is known to hold (`replaces`).
//! Only when the server has answered are the rows dropped and the server
//! tokens advanced (one transaction), so a host killed at any point re-sends
//! exactly what was not acknowledged. A 409 means the server holds something
//! else: reconcile (send our view of the server's pairs), adopt the answer,
//! retry.
//!
//! Pull: send the collection tokens held for the other devices; apply each
//! answered delta in one transaction, decrypting on the way in.
//!
//! Woken by local commits, push `Changed`, (re)connection and a slow timer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use baton_shared::api::PushMessage;
use baton_shared::limits::{backoff_ms, MAX_HTTP_BODY, MAX_UPLOAD_CHANGES, SYNC_POLL_MS};
use baton_shared::native::{HostMessage, ServerState};
use baton_shared::records::{Collection, RecordBody};
use baton_shared::sync::{
    CollectionDelta, DeltaKind, PullRequest, PullResponse, ReconcileRequest, RecordChange, SyncRecord, UploadRequest,
    UploadResponse, PATH_PULL, PATH_RECONCILE, PATH_UPLOAD,
};

use crate::context::{HostContext, RequestError, LAST_SYNC_KEY};
use crate::crypto::AccountKeys;
use crate::send_tab;
use crate::server_api::{CallError, ServerApi};
use crate::server_link::now_ms;
use crate::store::{DeviceRow, RemoteDelta};

/// Conflicts in a row before an upload gives up until the next wake.
const MAX_CONFLICT_RETRIES: u32 = 3;

pub async fn run(ctx: Arc<HostContext>) {
    let mut link = ctx.link.clone();
    let mut attempt = 0u32;
    ctx.refresh_status();
    loop {
        let delay = match sync_once(&ctx).await {
            Ok(()) => {
                attempt = 0;
                Duration::from_millis(SYNC_POLL_MS)
            }
            Err(e) => {
                if !matches!(e, CallError::NotRegistered) {
                    tracing::warn!("sync: {e}");
                }
                attempt = attempt.saturating_add(1);
                Duration::from_millis(backoff_ms(attempt).into())
            }
        };
        tokio::select! {
            _ = ctx.sync_wake.notified() => {}
            _ = tokio::time::sleep(delay) => {}
            changed = link.changed() => {
                if changed.is_err() {
                    // The link task is gone; keep syncing on the other wakes.
                    tokio::time::sleep(delay).await;
                } else if link.borrow_and_update().server.state == ServerState::Connected {
                    attempt = 0;
                    let ctx = ctx.clone();
                    tokio::spawn(async move { send_tab::catch_up(&ctx).await });
                }
            }
        }
    }
}

/// Routes push messages: sync wakes, received tabs, delivery progress.
/// Pairing listens on its own subscription. Nothing here waits on the
/// network: a slow call would let the channel overflow and drop pushes.
pub async fn route_push(ctx: Arc<HostContext>) {
    let mut rx = ctx.push.subscribe();
    loop {
        match rx.recv().await {
            Ok(PushMessage::Changed { .. } | PushMessage::DevicesChanged) => ctx.sync_wake.notify_one(),
            Ok(PushMessage::TabReceived { send_id, from_device, body, sent_ms: _ }) => {
                // Reporting the delivery is a call to the server.
                let ctx = ctx.clone();
                tokio::spawn(async move { send_tab::receive(&ctx, &send_id, &from_device, &body).await });
            }
            Ok(PushMessage::Delivery { send_id, state }) => send_tab::delivery(&ctx, send_id, state),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                // Sent tabs among the missed pushes wait on the server's pending list.
                tracing::warn!("missed {n} push messages; syncing and fetching pending tabs to catch up");
                ctx.sync_wake.notify_one();
                let ctx = ctx.clone();
                tokio::spawn(async move { send_tab::catch_up(&ctx).await });
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Uploads everything queued, then pulls what changed elsewhere.
pub async fn sync_once(ctx: &HostContext) -> Result<(), CallError> {
    let _one_at_a_time = ctx.sync_lock.lock().await;
    let result = sync_locked(ctx).await;
    // Offline shows as the link's state; anything else the user should see.
    let error = match &result {
        Ok(()) | Err(CallError::NotRegistered | CallError::Unreachable(_)) => None,
        Err(e) => Some(e.to_string()),
    };
    ctx.set_sync_error(error);
    ctx.refresh_status();
    result
}

async fn sync_locked(ctx: &HostContext) -> Result<(), CallError> {
    let (api, device) = ctx.api()?;
    let keys = ctx.keys().map_err(local)?;
    upload(ctx, &api, &device, &keys).await?;
    pull(ctx, &api, &device, &keys).await?;
    ctx.store().map_err(local)?.set_meta(LAST_SYNC_KEY, now_ms()).map_err(local)
}

fn local(e: impl std::fmt::Display) -> CallError {
    CallError::Local(e.to_string())
}

fn store_err(e: crate::store::StoreError) -> CallError {
    CallError::Local(RequestError::storage(e).message)
}

async fn upload(ctx: &HostContext, api: &ServerApi, device: &DeviceRow, keys: &AccountKeys) -> Result<(), CallError> {
    let mut conflicts = 0u32;
    loop {
        let (run, held) = {
            let store = ctx.store().map_err(local)?;
            let run = store.outbox_run(MAX_UPLOAD_CHANGES).map_err(store_err)?;
            let Some(first) = run.first() else { return Ok(()) };
            let held = store.server_tokens(first.collection).map_err(store_err)?;
            (run, held)
        };
        let collection = run[0].collection;
        // What the server will hold for each id once this batch is applied.
        let mut expected: HashMap<String, Option<String>> =
            run.iter().map(|r| (r.id.clone(), held.get(&r.id).cloned())).collect();
        let mut changes = Vec::new();
        let mut bytes = 0usize;
        let mut last_seq = run[0].seq;
        for row in &run {
            // Keep one request well under the server's body limit.
            if bytes > MAX_HTTP_BODY / 2 {
                break;
            }
            last_seq = row.seq;
            let now = expected.get(&row.id).cloned().flatten();
            let next = row.state.as_ref().map(|(token, _)| token.clone());
            if now == next {
                continue; // The server holds this already.
            }
            let record = match &row.state {
                Some((token, body)) => Some(SyncRecord {
                    id: row.id.clone(),
                    token: token.clone(),
                    body: keys.seal_record(&device.id, collection, &row.id, body.as_bytes()).map_err(local)?,
                }),
                None => None,
            };
            bytes += record.as_ref().map_or(0, |r| r.body.len()) + 200;
            changes.push(RecordChange { id: row.id.clone(), replaces: now, record });
            expected.insert(row.id.clone(), next);
        }
        if !changes.is_empty() {
            let request = UploadRequest { collection, changes };
            match api.post::<_, UploadResponse>(PATH_UPLOAD, &request).await {
                Ok(_) => {}
                Err(e @ CallError::Status { status: 507, .. }) => {
                    // Over the server's quota: changes queued later (closed
                    // tabs) must be able to replace these, not wait behind them.
                    ctx.store().map_err(local)?.compact_outbox().map_err(store_err)?;
                    ctx.refresh_status();
                    return Err(e);
                }
                Err(CallError::Conflict(conflict)) if conflicts < MAX_CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::info!(
                        "upload conflict on {} records of {}; reconciling",
                        conflict.conflicts.len(),
                        collection.as_str()
                    );
                    reconcile_own(ctx, api, device, collection).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        ctx.store().map_err(local)?.ack_upload(collection, last_seq, &expected).map_err(store_err)?;
        ctx.refresh_status();
    }
}

/// Learns what the server really holds of our own collection.
async fn reconcile_own(
    ctx: &HostContext,
    api: &ServerApi,
    device: &DeviceRow,
    collection: Collection,
) -> Result<(), CallError> {
    let pairs: Vec<(String, String)> = {
        let store = ctx.store().map_err(local)?;
        let mut pairs: Vec<_> = store.server_tokens(collection).map_err(store_err)?.into_iter().collect();
        pairs.sort();
        pairs
    };
    let request = ReconcileRequest { owner: device.id.clone(), collection, pairs };
    let delta: CollectionDelta = api.post(PATH_RECONCILE, &request).await?;
    let DeltaKind::Changes { changed, deleted } = delta.change else {
        return Err(CallError::Garbage("reconcile answered need_pairs".into()));
    };
    let mut held: HashMap<String, Option<String>> = changed.into_iter().map(|r| (r.id, Some(r.token))).collect();
    held.extend(deleted.into_iter().map(|id| (id, None)));
    ctx.store().map_err(local)?.adopt_server_view(collection, &held).map_err(store_err)
}

async fn pull(ctx: &HostContext, api: &ServerApi, device: &DeviceRow, keys: &AccountKeys) -> Result<(), CallError> {
    let have = ctx.store().map_err(local)?.remote_have().map_err(store_err)?;
    let response: PullResponse = api.post(PATH_PULL, &PullRequest { have }).await?;
    let devices: Vec<_> = response.devices.into_iter().filter(|d| d.id != device.id).collect();
    let mut changed = {
        let mut store = ctx.store().map_err(local)?;
        let before = store.account_devices().map_err(store_err)?;
        store.set_account_devices(&devices).map_err(store_err)?;
        let key = |d: &baton_shared::sync::AccountDevice| (d.id.clone(), d.name.clone(), d.kind.as_str());
        let mut a: Vec<_> = before.iter().map(key).collect();
        let mut b: Vec<_> = devices.iter().map(key).collect();
        a.sort();
        b.sort();
        a != b
    };
    for delta in response.collections {
        if delta.owner == device.id || !devices.iter().any(|d| d.id == delta.owner) {
            continue;
        }
        let delta = match delta.change {
            DeltaKind::Changes { .. } => delta,
            DeltaKind::NeedPairs => {
                let pairs =
                    ctx.store().map_err(local)?.remote_pairs(&delta.owner, delta.collection).map_err(store_err)?;
                let request = ReconcileRequest { owner: delta.owner.clone(), collection: delta.collection, pairs };
                api.post::<_, CollectionDelta>(PATH_RECONCILE, &request).await?
            }
        };
        let DeltaKind::Changes { changed: records, deleted } = delta.change else {
            tracing::warn!("reconcile for {} {} answered need_pairs", delta.owner, delta.collection.as_str());
            continue;
        };
        let offered = records.len();
        let decrypted = RemoteDelta {
            changed: records.into_iter().filter_map(|r| decrypt(keys, &delta.owner, delta.collection, r)).collect(),
            deleted,
        };
        // A record that did not open (e.g. pulled while this device was
        // still adopting the account key) must be fetched again: keep the
        // collection's old token so the next pull asks for it.
        let complete = decrypted.changed.len() == offered;
        ctx.store()
            .map_err(local)?
            .apply_remote(&delta.owner, delta.collection, complete.then_some(delta.token.as_str()), &decrypted)
            .map_err(store_err)?;
        changed = true;
    }
    if changed {
        ctx.events.send(HostMessage::RemoteChanged);
    }
    Ok(())
}

/// Opens one record; a record that does not open or does not say what its
/// id says is skipped (and logged), never fatal.
fn decrypt(keys: &AccountKeys, owner: &str, collection: Collection, r: SyncRecord) -> Option<(String, String, String)> {
    let plain = match keys.open_record(owner, collection, &r.id, &r.body) {
        Ok(plain) => plain,
        Err(e) => {
            tracing::warn!("skipping record {} of {owner}: {e}", r.id);
            return None;
        }
    };
    let body: RecordBody = match serde_json::from_slice(&plain) {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!("skipping record {} of {owner}: not a record ({e})", r.id);
            return None;
        }
    };
    if body.record_id() != r.id || body.collection() != collection {
        tracing::warn!("skipping record {} of {owner}: its body belongs elsewhere", r.id);
        return None;
    }
    let json = String::from_utf8(plain).ok()?;
    Some((r.id, r.token, json))
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc as std_mpsc, Mutex};

    use baton_shared::api::DeviceKind;
    use baton_shared::sync::{PendingTab, PendingTabs, SentTab};
    use tokio::sync::{broadcast, watch};

    use super::*;
    use crate::context::EventSink;
    use crate::crypto::AccountKeys;
    use crate::server_link::{token_context, ServerLinkTask};
    use crate::store::Store;
    use crate::test_server::{self, Reply};
    use crate::vault::Vault;

    const ME: &str = "d-me";
    const SENDER: &str = "d-sender";

    /// A host registered with the server at `server_url`, and what it tells
    /// the extension.
    struct Setup {
        ctx: Arc<HostContext>,
        events: std_mpsc::Receiver<HostMessage>,
        _dir: tempfile::TempDir,
    }

    fn setup(server_url: &str, keys: Arc<AccountKeys>, push_capacity: usize) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("host.sqlite3")).unwrap();
        let vault = Vault::load_or_create(&dir.path().join("vault.key")).unwrap();
        let token_sealed = vault.seal(b"t-me", &token_context(server_url, ME)).unwrap();
        store
            .save_device(&DeviceRow {
                server_url: server_url.into(),
                id: ME.into(),
                account_id: "a-1".into(),
                name: "Me".into(),
                kind: DeviceKind::Desktop,
                token_sealed,
                created_at: 0,
            })
            .unwrap();
        let (events_tx, events) = std_mpsc::channel();
        let link = watch::channel(ServerLinkTask::initial_state(server_url, None)).1;
        let ctx = HostContext::new(
            server_url.into(),
            Arc::new(Mutex::new(store)),
            Arc::new(vault),
            reqwest::Client::new(),
            EventSink(events_tx),
            broadcast::channel(push_capacity).0,
            link,
        );
        ctx.set_keys(keys);
        Setup { ctx: Arc::new(ctx), events, _dir: dir }
    }

    fn sent_tab(keys: &AccountKeys, url: &str) -> String {
        let plain = serde_json::to_vec(&SentTab { url: url.into(), title: "T".into() }).unwrap();
        keys.seal_sent_tab(SENDER, ME, &plain).unwrap()
    }

    /// Starts the router and waits until it listens.
    async fn route(ctx: &Arc<HostContext>) -> tokio::task::JoinHandle<()> {
        let router = tokio::spawn(route_push(ctx.clone()));
        while ctx.push.receiver_count() == 0 {
            tokio::task::yield_now().await;
        }
        router
    }

    /// The send ids of the tabs the extension is told of, until `n` arrived.
    async fn received(events: &std_mpsc::Receiver<HostMessage>, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ids.len() < n {
            match events.try_recv() {
                Ok(HostMessage::TabReceived { send_id, .. }) => ids.push(send_id),
                Ok(_) => {}
                Err(_) => {
                    assert!(tokio::time::Instant::now() < deadline, "only {ids:?} of {n} tabs arrived");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        ids
    }

    #[tokio::test]
    async fn a_failing_sync_says_why_in_the_status_until_one_succeeds() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let keys = Arc::new(AccountKeys::generate().unwrap());
        let broken = Arc::new(AtomicBool::new(true));
        let answers = broken.clone();
        let server = test_server::start(move |head| match head {
            "POST /v1/sync/pull" if answers.load(Ordering::SeqCst) => Reply::Html("<html>maintenance</html>".into()),
            "POST /v1/sync/pull" => Reply::Json(r#"{"devices": [], "collections": []}"#.into()),
            _ => Reply::NotFound,
        })
        .await;
        let Setup { ctx, _dir, .. } = setup(&server.url, keys, 16);
        assert!(matches!(sync_once(&ctx).await, Err(CallError::Garbage(_))));
        let status = ctx.sync_status.borrow().clone();
        assert!(status.error.as_deref().is_some_and(|e| e.contains("not Baton's protocol")), "{status:?}");
        assert_eq!(status.last_sync_ms, None);

        broken.store(false, Ordering::SeqCst);
        sync_once(&ctx).await.unwrap();
        let status = ctx.sync_status.borrow().clone();
        assert_eq!(status.error, None, "cleared by a sync that worked");
        assert!(status.last_sync_ms.is_some());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_not_a_sync_error() {
        let keys = Arc::new(AccountKeys::generate().unwrap());
        let Setup { ctx, _dir, .. } = setup("http://127.0.0.1:9", keys, 16);
        assert!(matches!(sync_once(&ctx).await, Err(CallError::Unreachable(_))));
        assert_eq!(ctx.sync_status.borrow().error, None, "the link's state says offline");
    }

    #[tokio::test]
    async fn a_tab_whose_delivery_report_hangs_does_not_hold_up_the_next() {
        let keys = Arc::new(AccountKeys::generate().unwrap());
        // The server takes the tabs' delivery reports and never answers.
        let server = test_server::start(|_| Reply::Hang).await;
        let Setup { ctx, events, _dir } = setup(&server.url, keys.clone(), 16);
        let router = route(&ctx).await;
        for (send_id, url) in [("s-1", "https://a.example/"), ("s-2", "https://b.example/")] {
            let body = sent_tab(&keys, url);
            ctx.push
                .send(PushMessage::TabReceived {
                    send_id: send_id.into(),
                    from_device: SENDER.into(),
                    body,
                    sent_ms: 0,
                })
                .unwrap();
            // Let the router take it before the next one.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(received(&events, 2).await, ["s-1", "s-2"]);
        router.abort();
    }

    #[tokio::test]
    async fn missed_pushes_fetch_the_pending_tabs() {
        let keys = Arc::new(AccountKeys::generate().unwrap());
        let pending = PendingTabs {
            tabs: vec![PendingTab {
                send_id: "s-missed".into(),
                from_device: SENDER.into(),
                body: sent_tab(&keys, "https://missed.example/"),
                sent_ms: 0,
            }],
        };
        let pending = serde_json::to_string(&pending).unwrap();
        let server = test_server::start(move |head| match head {
            "GET /v1/sendtab/pending" => Reply::Json(pending.clone()),
            _ => Reply::Hang,
        })
        .await;
        let Setup { ctx, events, _dir } = setup(&server.url, keys, 1);
        let router = route(&ctx).await;
        // More than the channel holds before the router runs again: it lags.
        for _ in 0..3 {
            ctx.push.send(PushMessage::DevicesChanged).unwrap();
        }
        assert_eq!(received(&events, 1).await, ["s-missed"]);
        router.abort();
    }
}
