//! Organisations: operators join only their organisation's sessions (and
//! only when allowlisted, once an allowlist is set); admins list sessions
//! and export the audit log; retention deletes what is due.

use baton_shared::api::ApiError;
use baton_shared::cobrowse::{CreateSession, JoinSession, SessionCreated, PATH_JOIN, PATH_SESSIONS};
use baton_shared::limits::COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE;
use serde_json::{json, Value};

use crate::common::{client, join_forwarded, json, public_key, Device, Server};

const DAY_MS: i64 = 86_400_000;

async fn put(server: &Server, device: &Device, path: &str, body: &Value) -> reqwest::Response {
    client().put(server.url(path)).bearer_auth(&device.token).json(body).send().await.unwrap()
}

async fn share(server: &Server, visitor: &Device) -> SessionCreated {
    json(visitor.post(server, PATH_SESSIONS, &CreateSession { visitor_public_key: public_key(7) }).await, 200).await
}

/// `device`'s account accepts an invitation `admin` made into `org`.
async fn enrol(server: &Server, admin: &Device, org: &str, device: &Device, role: &str) {
    let invited: Value =
        json(admin.post(server, &format!("/v1/orgs/{org}/invites"), &json!({"role": role})).await, 200).await;
    assert_eq!(invited["role"], role);
    let joined: Value = json(device.post(server, "/v1/orgs/join", &json!({"code": invited["code"]})).await, 200).await;
    assert_eq!((joined["org_id"].as_str(), joined["role"].as_str()), (Some(org), Some(role)));
}

async fn join(server: &Server, operator: &Device, lookup: &str) -> reqwest::Response {
    let body = JoinSession { lookup: lookup.to_owned(), operator_public_key: public_key(8) };
    operator.post(server, PATH_JOIN, &body).await
}

#[tokio::test]
async fn operators_join_only_their_organisation_and_retention_deletes_what_is_due() {
    let server = Server::start().await;
    let admin_a = Device::register(&server, "Admin A").await;
    let operator_a = Device::register(&server, "Operator A").await;
    let second_a = Device::register(&server, "Second operator A").await;
    let visitor_a = Device::register(&server, "Visitor A").await;
    let admin_b = Device::register(&server, "Admin B").await;

    let org_a: Value = json(admin_a.post(&server, "/v1/orgs", &json!({"name": "Org A"})).await, 200).await;
    let org_a = org_a["org_id"].as_str().unwrap().to_owned();
    let org_b: Value = json(admin_b.post(&server, "/v1/orgs", &json!({"name": "Org B"})).await, 200).await;
    let org_b = org_b["org_id"].as_str().unwrap().to_owned();
    for (device, role) in [(&operator_a, "member"), (&second_a, "operator"), (&visitor_a, "member")] {
        enrol(&server, &admin_a, &org_a, device, role).await;
    }
    // The admin changes members' roles...
    let path = format!("/v1/orgs/{org_a}/members/{}", operator_a.account_id);
    assert_eq!(put(&server, &admin_a, &path, &json!({"role": "operator"})).await.status(), 204);
    // ...but cannot enrol an account that did not accept an invitation.
    let path = format!("/v1/orgs/{org_a}/members/{}", admin_b.account_id);
    assert_eq!(put(&server, &operator_a, &path, &json!({"role": "member"})).await.status(), 403);
    let err: ApiError = json(put(&server, &admin_a, &path, &json!({"role": "member"})).await, 404).await;
    assert_eq!(err.code, "not_a_member");
    // Only an admin invites; an invitation is single use, and an account is
    // in one organisation.
    let err: ApiError =
        json(operator_a.post(&server, &format!("/v1/orgs/{org_a}/invites"), &json!({"role": "admin"})).await, 403)
            .await;
    assert_eq!(err.code, "forbidden");
    let invited: Value =
        json(admin_a.post(&server, &format!("/v1/orgs/{org_a}/invites"), &json!({"role": "member"})).await, 200).await;
    let code = json!({"code": invited["code"]});
    let err: ApiError = json(admin_b.post(&server, "/v1/orgs/join", &code).await, 409).await;
    assert_eq!(err.code, "conflict");
    let newcomer = Device::register(&server, "Newcomer").await;
    assert_eq!(newcomer.post(&server, "/v1/orgs/join", &code).await.status(), 200);
    let stranger = Device::register(&server, "Stranger").await;
    let err: ApiError = json(stranger.post(&server, "/v1/orgs/join", &code).await, 404).await;
    assert_eq!(err.code, "invite_invalid");
    let bad = json!({"code": "not a code!"});
    assert_eq!(stranger.post(&server, "/v1/orgs/join", &bad).await.status(), 400);

    // An operator from another organisation cannot join.
    let session = share(&server, &visitor_a).await;
    let refused = join(&server, &admin_b, &session.lookup).await;
    assert_eq!(refused.status(), 403);
    let err: ApiError = refused.json().await.unwrap();
    assert_eq!(err.code, "forbidden");
    assert!(err.message.contains("another organisation"), "{}", err.message);

    // With an allowlist, only the operators on it.
    let policy = json!({"retention_days": 10, "operator_allowlist": [second_a.account_id]});
    assert_eq!(put(&server, &admin_a, &format!("/v1/orgs/{org_a}/policy"), &policy).await.status(), 204);
    assert_eq!(join(&server, &operator_a, &session.lookup).await.status(), 403);
    assert_eq!(join(&server, &second_a, &session.lookup).await.status(), 200);

    // Admins list sessions and export the audit log as JSON lines; others may not.
    let sessions: Vec<Value> = json(admin_a.get(&server, &format!("/v1/orgs/{org_a}/sessions")).await, 200).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["session_id"], session.session_id.as_str());
    assert_eq!(sessions[0]["operator_name"], "Second operator A");
    assert_eq!(admin_b.get(&server, &format!("/v1/orgs/{org_a}/sessions")).await.status(), 403);
    let audit = admin_a.get(&server, &format!("/v1/orgs/{org_a}/audit")).await;
    assert_eq!(audit.status(), 200);
    assert_eq!(audit.headers()["content-type"], "application/x-ndjson");
    let text = audit.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().any(|l| l["event"]["kind"] == "operator_joined"), "{text}");
    assert!(lines.iter().all(|l| l["session_id"] == session.session_id.as_str()));
    let empty: Vec<Value> = json(admin_b.get(&server, &format!("/v1/orgs/{org_b}/sessions")).await, 200).await;
    assert!(empty.is_empty());

    // Retention: a session that ended 11 days ago goes (with its audit log);
    // one that ended yesterday stays.
    let recent = share(&server, &visitor_a).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let db = rusqlite::Connection::open(server.db_path()).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    for (id, ended) in [(&session.session_id, now - 11 * DAY_MS), (&recent.session_id, now - DAY_MS)] {
        db.execute(
            "UPDATE cobrowse_session SET state = 'ended', ended_ms = ?2 WHERE id = ?1",
            rusqlite::params![id, ended],
        )
        .unwrap();
    }
    assert_eq!(admin_b.post(&server, &format!("/v1/orgs/{org_a}/retention"), &json!({})).await.status(), 403);
    let deleted: Value =
        json(admin_a.post(&server, &format!("/v1/orgs/{org_a}/retention"), &json!({})).await, 200).await;
    assert_eq!(deleted["sessions"], 1, "{deleted}");
    assert!(deleted["audit_entries"].as_u64().unwrap() >= 2, "{deleted}");
    let left: Vec<Value> = json(admin_a.get(&server, &format!("/v1/orgs/{org_a}/sessions")).await, 200).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["session_id"], recent.session_id.as_str());
    let audit_rows: i64 = db
        .query_row("SELECT COUNT(*) FROM cobrowse_audit WHERE session_id = ?1", [&session.session_id], |r| r.get(0))
        .unwrap();
    assert_eq!(audit_rows, 0);
}

#[tokio::test]
async fn organisation_requests_are_checked() {
    let server = Server::start().await;
    let admin = Device::register(&server, "Admin").await;
    assert_eq!(admin.post(&server, "/v1/orgs", &json!({"name": " "})).await.status(), 400);
    assert_eq!(admin.post(&server, "/v1/orgs", &json!({"name": "X", "retention_days": 0})).await.status(), 400);
    let org: Value = json(admin.post(&server, "/v1/orgs", &json!({"name": "X"})).await, 200).await;
    let org = org["org_id"].as_str().unwrap().to_owned();
    assert_eq!(admin.post(&server, "/v1/orgs", &json!({"name": "Y"})).await.status(), 409);
    let bad = json!({"retention_days": 5000, "operator_allowlist": []});
    assert_eq!(put(&server, &admin, &format!("/v1/orgs/{org}/policy"), &bad).await.status(), 400);
    let path = format!("/v1/orgs/{org}/members/{}", admin.account_id);
    assert_eq!(put(&server, &admin, &path, &json!({"role": "owner"})).await.status(), 400);
    assert_eq!(client().get(server.url(&format!("/v1/orgs/{org}/sessions"))).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn refused_joins_use_up_the_clients_guesses_but_not_the_code() {
    let server = Server::start_with(&["--trusted-proxy", "127.0.0.1"]).await;
    let admin_a = Device::register(&server, "Admin A").await;
    let operator_a = Device::register(&server, "Operator A").await;
    let visitor_a = Device::register(&server, "Visitor A").await;
    let stranger = Device::register(&server, "Admin B").await;
    let org_a: Value = json(admin_a.post(&server, "/v1/orgs", &json!({"name": "Org A"})).await, 200).await;
    let org_a = org_a["org_id"].as_str().unwrap().to_owned();
    let _: Value = json(stranger.post(&server, "/v1/orgs", &json!({"name": "Org B"})).await, 200).await;
    for (device, role) in [(&operator_a, "operator"), (&visitor_a, "member")] {
        enrol(&server, &admin_a, &org_a, device, role).await;
    }
    let session = share(&server, &visitor_a).await;

    // Each refusal tells that the code is live: it costs a guess.
    for _ in 0..COBROWSE_GUESSES_PER_CLIENT_PER_MINUTE {
        assert_eq!(join_forwarded(&server, &stranger, &session.lookup, "198.51.100.1").await.status(), 403);
    }
    let err: ApiError = json(join_forwarded(&server, &stranger, &session.lookup, "198.51.100.1").await, 429).await;
    assert_eq!(err.code, "rate_limited");
    assert!(err.message.contains("from this address"), "{}", err.message);

    // The refusals did not block the visitor's code.
    let joined = join_forwarded(&server, &operator_a, &session.lookup, "198.51.100.2").await;
    assert_eq!(joined.status(), 200, "{}", joined.text().await.unwrap());
}
