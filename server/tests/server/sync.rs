//! Delta sync between the devices of one account, and nothing across accounts.

use std::time::Duration;

use baton_shared::api::{ApiError, PushMessage};
use baton_shared::records::Collection;
use baton_shared::sync::{
    AccountDevices, CollectionDelta, CollectionRef, DeltaKind, PullRequest, PullResponse, ReconcileRequest,
    RecordChange, SyncRecord, UploadConflict, UploadRequest, UploadResponse, PATH_ACCOUNT_DEVICES, PATH_PULL,
    PATH_RECONCILE, PATH_UPLOAD,
};
use baton_shared::token::collection_token;
use serde_json::json;

use crate::common::{json, next_push_within, pair, Device, Server};

fn token(n: usize) -> String {
    format!("{n:040x}")
}

fn record(id: &str, n: usize) -> SyncRecord {
    use base64::Engine as _;
    SyncRecord {
        id: id.into(),
        token: token(n),
        body: base64::engine::general_purpose::STANDARD.encode(format!("sealed {id} v{n}")),
    }
}

fn put(id: &str, replaces: Option<usize>, n: usize) -> RecordChange {
    RecordChange { id: id.into(), replaces: replaces.map(token), record: Some(record(id, n)) }
}

fn delete(id: &str, replaces: usize) -> RecordChange {
    RecordChange { id: id.into(), replaces: Some(token(replaces)), record: None }
}

async fn upload(server: &Server, d: &Device, changes: Vec<RecordChange>) -> reqwest::Response {
    let req = UploadRequest { collection: Collection::Tabs, changes };
    d.post(server, PATH_UPLOAD, &req).await
}

async fn upload_ok(server: &Server, d: &Device, changes: Vec<RecordChange>) -> String {
    json::<UploadResponse>(upload(server, d, changes).await, 200).await.token
}

async fn pull(server: &Server, d: &Device, have: Vec<CollectionRef>) -> PullResponse {
    json(d.post(server, PATH_PULL, &PullRequest { have }).await, 200).await
}

fn held(owner: &Device, token: &str) -> CollectionRef {
    CollectionRef { owner: owner.id.clone(), collection: Collection::Tabs, token: token.to_owned() }
}

fn changes(delta: &CollectionDelta) -> (Vec<String>, Vec<String>) {
    match &delta.change {
        DeltaKind::Changes { changed, deleted } => (changed.iter().map(|r| r.id.clone()).collect(), deleted.clone()),
        DeltaKind::NeedPairs => panic!("expected changes, got need_pairs"),
    }
}

/// Two devices of one account.
async fn account(server: &Server) -> (Device, Device) {
    let a = Device::register(server, "A").await;
    let mut b = Device::register(server, "B").await;
    pair(server, &a, &mut b).await;
    (a, b)
}

#[tokio::test]
async fn upload_pull_reconcile_round_trip_with_tombstones() {
    let server = Server::start().await;
    let (a, b) = account(&server).await;

    let t1 = upload_ok(&server, &a, vec![put("w:1", None, 1), put("t:1", None, 2), put("t:2", None, 3)]).await;
    assert_eq!(t1, collection_token([("w:1", token(1).as_str()), ("t:1", &token(2)), ("t:2", &token(3))]));

    // B holds nothing: everything live, and who A is.
    let first = pull(&server, &b, vec![]).await;
    assert_eq!(first.devices.len(), 1);
    assert_eq!(first.devices[0].id, a.id);
    assert_eq!(first.collections.len(), 1);
    assert_eq!(first.collections[0].token, t1);
    assert_eq!(changes(&first.collections[0]), (vec!["t:1".into(), "t:2".into(), "w:1".into()], vec![]));

    // One change and one delete: B gets exactly those.
    let t2 = upload_ok(&server, &a, vec![put("t:1", Some(2), 4), delete("t:2", 3)]).await;
    let next = pull(&server, &b, vec![held(&a, &t1)]).await;
    assert_eq!(next.collections.len(), 1);
    assert_eq!(next.collections[0].token, t2);
    assert_eq!(changes(&next.collections[0]), (vec!["t:1".into()], vec!["t:2".into()]));

    // Unchanged: skipped whole.
    assert!(pull(&server, &b, vec![held(&a, &t2)]).await.collections.is_empty());

    // A token the log never had: reconcile instead.
    let lost = pull(&server, &b, vec![held(&a, &token(99))]).await;
    assert_eq!(lost.collections[0].change, DeltaKind::NeedPairs);
    let req = ReconcileRequest {
        owner: a.id.clone(),
        collection: Collection::Tabs,
        pairs: vec![("w:1".into(), token(1)), ("t:1".into(), token(2)), ("t:9".into(), token(9))],
    };
    let delta: CollectionDelta = json(b.post(&server, PATH_RECONCILE, &req).await, 200).await;
    assert_eq!(delta.token, t2);
    assert_eq!(changes(&delta), (vec!["t:1".into()], vec!["t:9".into()]));

    // The owner may reconcile its own collection too.
    let own: CollectionDelta = json(a.post(&server, PATH_RECONCILE, &req).await, 200).await;
    assert_eq!(own.token, t2);

    // A device's own collections never come back to it.
    assert!(pull(&server, &a, vec![]).await.collections.is_empty());
}

#[tokio::test]
async fn one_changed_tab_among_5000_is_a_small_answer() {
    let server = Server::start().await;
    let (a, b) = account(&server).await;
    let mut tok = String::new();
    for batch in 0..5 {
        let changes = (0..1000).map(|i| put(&format!("t:{}", batch * 1000 + i), None, batch * 1000 + i)).collect();
        tok = upload_ok(&server, &a, changes).await;
    }
    let first = pull(&server, &b, vec![]).await;
    assert_eq!(changes(&first.collections[0]).0.len(), 5000, "no silent truncation");

    let after = upload_ok(&server, &a, vec![put("t:1234", Some(1234), 9_999_999)]).await;
    let response = b.post(&server, PATH_PULL, &PullRequest { have: vec![held(&a, &tok)] }).await;
    let body = response.bytes().await.unwrap();
    assert!(body.len() < 2048, "{} bytes for one changed record", body.len());
    let delta: PullResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(delta.collections[0].token, after);
    assert_eq!(changes(&delta.collections[0]), (vec!["t:1234".into()], vec![]));

    let none = b.post(&server, PATH_PULL, &PullRequest { have: vec![held(&a, &after)] }).await;
    let body = none.bytes().await.unwrap();
    assert!(body.len() < 512, "{} bytes for no change", body.len());
}

#[tokio::test]
async fn stale_replaces_is_409_and_applies_nothing() {
    let server = Server::start().await;
    let (a, b) = account(&server).await;
    let t1 = upload_ok(&server, &a, vec![put("t:1", None, 1), put("t:2", None, 2)]).await;

    let response = upload(&server, &a, vec![put("t:3", None, 3), put("t:1", Some(7), 8), put("t:2", None, 9)]).await;
    let conflict: UploadConflict = json(response, 409).await;
    assert_eq!(conflict.code, "conflict");
    assert_eq!(conflict.token, t1);
    let named: Vec<_> = conflict.conflicts.iter().map(|c| (c.id.as_str(), c.server_token.clone())).collect();
    assert_eq!(named, [("t:1", Some(token(1))), ("t:2", Some(token(2)))]);

    // Nothing moved, t:3 included.
    let view = pull(&server, &b, vec![]).await;
    assert_eq!(view.collections[0].token, t1);
    assert_eq!(changes(&view.collections[0]).0, ["t:1", "t:2"]);
}

#[tokio::test]
async fn a_retried_upload_is_a_no_op_not_a_conflict() {
    let server = Server::start().await;
    let (a, b) = account(&server).await;
    let mut socket = b.socket(&server).await;
    upload_ok(&server, &a, vec![put("t:1", None, 1), put("t:2", None, 2)]).await;
    assert!(matches!(next_push_within(&mut socket, Duration::from_secs(5)).await, Some(PushMessage::Changed { .. })));

    let batch = vec![put("t:1", Some(1), 3), delete("t:2", 2), put("t:3", None, 4)];
    let first = upload_ok(&server, &a, batch.clone()).await;
    assert!(matches!(next_push_within(&mut socket, Duration::from_secs(5)).await, Some(PushMessage::Changed { .. })));
    // The answer was lost; the host sends the same batch again.
    let again = upload_ok(&server, &a, batch).await;
    assert_eq!(again, first);
    // Nothing changed, so nobody is told.
    assert_eq!(next_push_within(&mut socket, Duration::from_millis(300)).await, None);
    // But a retry mixed with a real change of a stale record still conflicts.
    let response = upload(&server, &a, vec![put("t:1", Some(1), 5)]).await;
    assert_eq!(json::<UploadConflict>(response, 409).await.conflicts[0].server_token, Some(token(3)));
}

#[tokio::test]
async fn changed_is_pushed_to_the_other_devices_within_a_second() {
    let server = Server::start().await;
    let (a, b) = account(&server).await;
    let mut c = Device::register(&server, "C").await;
    pair(&server, &a, &mut c).await;
    let mut b_socket = b.socket(&server).await;
    let mut a_socket = a.socket(&server).await;
    let mut c_socket = c.socket(&server).await;

    let tok = upload_ok(&server, &a, vec![put("t:1", None, 1)]).await;
    for socket in [&mut b_socket, &mut c_socket] {
        let msg = next_push_within(socket, Duration::from_secs(10)).await.expect("no push");
        assert_eq!(msg, PushMessage::Changed { owner: a.id.clone(), collection: Collection::Tabs, token: tok.clone() });
    }
    // The uploader is not told about its own change.
    assert_eq!(next_push_within(&mut a_socket, Duration::from_millis(200)).await, None);
}

#[tokio::test]
async fn accounts_are_isolated() {
    let server = Server::start().await;
    let (a, b) = account(&server).await;
    let stranger = Device::register(&server, "Stranger").await;
    let mut s_socket = stranger.socket(&server).await;
    upload_ok(&server, &a, vec![put("t:1", None, 1)]).await;

    let seen = pull(&server, &stranger, vec![held(&a, &token(0))]).await;
    assert!(seen.devices.is_empty() && seen.collections.is_empty(), "{seen:?}");
    let req = ReconcileRequest { owner: a.id.clone(), collection: Collection::Tabs, pairs: vec![] };
    let err: ApiError = json(stranger.post(&server, PATH_RECONCILE, &req).await, 404).await;
    assert_eq!(err.code, "unknown_device");
    assert_eq!(next_push_within(&mut s_socket, Duration::from_millis(200)).await, None);

    let mine: AccountDevices = json(b.get(&server, PATH_ACCOUNT_DEVICES).await, 200).await;
    assert_eq!(mine.account_id, a.account_id);
    let mut ids: Vec<_> = mine.devices.iter().map(|d| d.id.clone()).collect();
    ids.sort();
    let mut want = vec![a.id.clone(), b.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    let theirs: AccountDevices = json(stranger.get(&server, PATH_ACCOUNT_DEVICES).await, 200).await;
    assert_eq!(theirs.devices.len(), 1);
    assert!(!theirs.devices[0].online || theirs.devices[0].id == stranger.id);
}

#[tokio::test]
async fn bad_uploads_get_typed_400s() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let long_id = "x".repeat(129);
    let cases = [
        (json!({"collection": "nope", "changes": []}), "collection"),
        (json!({"collection": "tabs", "changes": [{"id": "", "replaces": null, "record": null}]}), "record id"),
        (json!({"collection": "tabs", "changes": [{"id": long_id, "replaces": null, "record": null}]}), "record id"),
        (json!({"collection": "tabs", "changes": [{"id": "t:1", "replaces": "ABC", "record": null}]}), "replaces"),
        (
            json!({"collection": "tabs", "changes": [{"id": "t:1", "replaces": null,
                "record": {"id": "t:1", "token": token(0xabc).to_uppercase(), "body": "aGk="}}]}),
            "record token",
        ),
        (
            json!({"collection": "tabs", "changes": [{"id": "t:1", "replaces": null,
                "record": {"id": "t:1", "token": token(1), "body": "not base64!"}}]}),
            "base64",
        ),
        (
            json!({"collection": "tabs", "changes": [{"id": "t:1", "replaces": null,
                "record": {"id": "t:2", "token": token(1), "body": "aGk="}}]}),
            "carries record",
        ),
    ];
    for (body, needle) in cases {
        let err: ApiError = json(a.post(&server, PATH_UPLOAD, &body).await, 400).await;
        assert_eq!(err.code, "invalid_request");
        assert!(err.message.contains(needle), "{needle}: {}", err.message);
    }
    let too_many: Vec<_> =
        (0..=baton_shared::limits::MAX_UPLOAD_CHANGES).map(|i| put(&format!("t:{i}"), None, i)).collect();
    let err: ApiError = json(upload(&server, &a, too_many).await, 400).await;
    assert!(err.message.contains("at most"), "{}", err.message);
    let huge = "A".repeat(baton_shared::limits::MAX_RECORD_BODY + 4);
    let body = json!({"collection": "tabs", "changes": [{"id": "t:1", "replaces": null,
        "record": {"id": "t:1", "token": token(1), "body": huge}}]});
    let err: ApiError = json(a.post(&server, PATH_UPLOAD, &body).await, 400).await;
    assert!(err.message.contains("longer than"), "{}", err.message);

    // Nothing of it was stored.
    let empty = upload_ok(&server, &a, vec![]).await;
    assert_eq!(empty, collection_token([]));
    let unauth = crate::common::client().post(server.url(PATH_UPLOAD)).json(&body).send().await.unwrap();
    assert_eq!(unauth.status(), 401);
}

#[tokio::test]
async fn records_and_the_change_log_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.sqlite3");
    let server = Server::start_at(&db).await;
    let (a, b) = account(&server).await;
    let t1 = upload_ok(&server, &a, vec![put("t:1", None, 1), put("t:2", None, 2)]).await;
    assert!(server.terminate().await.success());

    let server = Server::start_at(&db).await;
    let t2 = upload_ok(&server, &a, vec![delete("t:1", 1)]).await;
    let delta = pull(&server, &b, vec![held(&a, &t1)]).await;
    assert_eq!(delta.collections[0].token, t2);
    assert_eq!(changes(&delta.collections[0]), (vec![], vec!["t:1".into()]));
}

#[tokio::test]
async fn a_device_over_its_quota_is_refused_with_507_and_can_still_shrink() {
    let server = Server::start_with(&["--device-quota-records", "2"]).await;
    let a = Device::register(&server, "A").await;
    let t = upload_ok(&server, &a, vec![put("t:1", None, 1), put("t:2", None, 1)]).await;
    let err: ApiError = json(upload(&server, &a, vec![put("t:3", None, 1)]).await, 507).await;
    assert_eq!(err.code, "quota_exceeded");
    assert!(err.message.contains("3 records") && err.message.contains("2 records"), "{}", err.message);
    // Nothing of the refused batch is kept; deleting and replacing still go.
    let t2 = upload_ok(&server, &a, vec![delete("t:2", 1)]).await;
    assert_ne!(t, t2);
    upload_ok(&server, &a, vec![put("t:3", None, 1)]).await;
}
