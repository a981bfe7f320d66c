//! Pairing: a code shown on one device brings another into its account.

use std::time::Duration;

use baton_shared::api::{ApiError, PushMessage};
use baton_shared::limits::{PAIRING_GUESSES_PER_CLIENT_PER_MINUTE, PAIRING_GUESSES_PER_CODE};
use baton_shared::records::Collection;
use baton_shared::sync::{
    AccountDevices, PairingClaim, PairingClaimed, PairingComplete, PairingOffer, PairingOffered, PairingProof,
    PairingState, PairingStatus, PullRequest, PullResponse, RecordChange, SyncRecord, UploadRequest,
    PATH_ACCOUNT_DEVICES, PATH_PAIRING, PATH_PAIRING_CLAIM, PATH_PAIRING_OFFER, PATH_PULL, PATH_UPLOAD,
};

use crate::common::{all_at_once, assert_only_the_limit_judged, json, next_push, public_key, Device, Server};

async fn offer(server: &Server, d: &Device) -> PairingOffered {
    let body = PairingOffer { public_key: public_key(1) };
    json(d.post(server, PATH_PAIRING_OFFER, &body).await, 200).await
}

async fn claim(server: &Server, d: &Device, lookup: &str) -> reqwest::Response {
    let body = PairingClaim { lookup: lookup.to_owned(), public_key: public_key(2) };
    d.post(server, PATH_PAIRING_CLAIM, &body).await
}

/// The claimer's proof; opaque to the server (the offerer checks it).
async fn prove(server: &Server, d: &Device, pairing_id: &str, proof: &str) -> reqwest::Response {
    let body = PairingProof { proof: proof.to_owned() };
    d.post(server, &format!("{PATH_PAIRING}/{pairing_id}/proof"), &body).await
}

async fn status(server: &Server, d: &Device, pairing_id: &str) -> reqwest::Response {
    d.get(server, &format!("{PATH_PAIRING}/{pairing_id}")).await
}

async fn upload_one(server: &Server, d: &Device) {
    let req = UploadRequest {
        collection: Collection::Tabs,
        changes: vec![RecordChange {
            id: "t:1".into(),
            replaces: None,
            record: Some(SyncRecord { id: "t:1".into(), token: "1".repeat(40), body: "c2VhbGVk".into() }),
        }],
    };
    assert_eq!(d.post(server, PATH_UPLOAD, &req).await.status(), 200);
}

/// A lookup that is not `taken` (a wrong guess).
fn other_lookup(taken: &str) -> &'static str {
    if taken == "ZZZZ" {
        "YYYY"
    } else {
        "ZZZZ"
    }
}

#[tokio::test]
async fn pairing_moves_the_claimer_into_the_account_and_wipes_its_records() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let a2 = Device::register(&server, "A2").await;
    let b = Device::register(&server, "B").await;
    // A2 joins A first, so A's account has someone to tell.
    crate::common::pair(&server, &a, &mut a2.clone()).await;
    upload_one(&server, &b).await;
    let mut a_socket = a.socket(&server).await;
    let mut a2_socket = a2.socket(&server).await;
    let mut b_socket = b.socket(&server).await;

    let offered = offer(&server, &a).await;
    assert_eq!(offered.lookup.len(), 4);
    let st: PairingStatus = json(status(&server, &a, &offered.pairing_id).await, 200).await;
    assert_eq!(st.state, PairingState::Offered);

    // Typed in lower case: still the same code.
    let claimed: PairingClaimed = json(claim(&server, &b, &offered.lookup.to_lowercase()).await, 200).await;
    assert_eq!(claimed.pairing_id, offered.pairing_id);
    assert_eq!(claimed.offer_public_key, public_key(1));
    // A claim retried after a lost answer gets the same answer.
    let again: PairingClaimed = json(claim(&server, &b, &offered.lookup).await, 200).await;
    assert_eq!(again, claimed);
    let st: PairingStatus = json(status(&server, &a, &offered.pairing_id).await, 200).await;
    assert_eq!((st.state, st.claim_proof.as_deref()), (PairingState::Claimed, None), "no proof yet");
    let wrapped = PairingComplete { wrapped_account_key: "d3JhcHBlZCBrZXk=".into() };
    let path = format!("{PATH_PAIRING}/{}/complete", offered.pairing_id);
    let err: ApiError = json(a.post(&server, &path, &wrapped).await, 409).await;
    assert_eq!(err.code, "pairing_state", "nothing completes before the proof");

    // Only the claimer proves; A hears of the claim with the proof.
    for other in [&a, &a2] {
        let err: ApiError = json(prove(&server, other, &offered.pairing_id, &public_key(9)).await, 404).await;
        assert_eq!(err.code, "unknown_pairing");
    }
    assert_eq!(prove(&server, &b, &offered.pairing_id, &public_key(9)).await.status(), 204);
    assert_eq!(
        next_push(&mut a_socket).await,
        PushMessage::PairingClaimed {
            pairing_id: offered.pairing_id.clone(),
            claim_public_key: public_key(2),
            claim_proof: public_key(9),
        }
    );
    // The same proof again (a lost answer) is told again; another is refused.
    assert_eq!(prove(&server, &b, &offered.pairing_id, &public_key(9)).await.status(), 204);
    assert!(matches!(next_push(&mut a_socket).await, PushMessage::PairingClaimed { .. }));
    let err: ApiError = json(prove(&server, &b, &offered.pairing_id, &public_key(7)).await, 409).await;
    assert_eq!(err.code, "pairing_state");
    let st: PairingStatus = json(status(&server, &b, &offered.pairing_id).await, 200).await;
    assert_eq!(
        (st.state, st.claim_public_key.as_deref(), st.claim_proof.as_deref()),
        (PairingState::Claimed, Some(public_key(2).as_str()), Some(public_key(9).as_str()))
    );

    // Only the offerer completes.
    let err: ApiError = json(b.post(&server, &path, &wrapped).await, 404).await;
    assert_eq!(err.code, "unknown_pairing");
    assert_eq!(a.post(&server, &path, &wrapped).await.status(), 204);

    assert_eq!(
        next_push(&mut b_socket).await,
        PushMessage::PairingCompleted { pairing_id: offered.pairing_id.clone(), account_id: a.account_id.clone() }
    );
    assert_eq!(next_push(&mut a_socket).await, PushMessage::DevicesChanged);
    assert_eq!(next_push(&mut a2_socket).await, PushMessage::DevicesChanged);

    let st: PairingStatus = json(status(&server, &b, &offered.pairing_id).await, 200).await;
    assert_eq!(st.state, PairingState::Complete);
    assert_eq!(st.wrapped_account_key.as_deref(), Some("d3JhcHBlZCBrZXk="));
    assert_eq!(st.account_id.as_deref(), Some(a.account_id.as_str()));

    let devices: AccountDevices = json(b.get(&server, PATH_ACCOUNT_DEVICES).await, 200).await;
    assert_eq!(devices.account_id, a.account_id);
    assert_eq!(devices.devices.len(), 3);
    assert!(devices.devices.iter().all(|d| d.online), "{devices:?}");

    // B's records (sealed under its old key) are gone; its old account too.
    let pulled: PullResponse = json(a.post(&server, PATH_PULL, &PullRequest { have: vec![] }).await, 200).await;
    assert!(pulled.collections.is_empty(), "{pulled:?}");
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let (records, old_account): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM record WHERE owner_id = ?1),
                    (SELECT count(*) FROM account WHERE id = ?2)",
            [&b.id, &b.account_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((records, old_account), (0, 0));

    // The code is single use; a stranger learns nothing about the pairing.
    let c = Device::register(&server, "C").await;
    let err: ApiError = json(claim(&server, &c, &offered.lookup).await, 404).await;
    assert_eq!(err.code, "pairing_code_invalid");
    let err: ApiError = json(status(&server, &c, &offered.pairing_id).await, 404).await;
    assert_eq!(err.code, "unknown_pairing");
}

#[tokio::test]
async fn wrong_own_and_malformed_codes_are_refused_clearly() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let b = Device::register(&server, "B").await;
    let offered = offer(&server, &a).await;

    for wrong in [other_lookup(&offered.lookup), "nope!", ""] {
        let err: ApiError = json(claim(&server, &b, wrong).await, 404).await;
        assert_eq!(err.code, "pairing_code_invalid", "{wrong:?}");
        assert!(err.message.contains("wrong, expired or already used"), "{}", err.message);
    }
    let err: ApiError = json(claim(&server, &a, &offered.lookup).await, 400).await;
    assert!(err.message.contains("own pairing code"), "{}", err.message);
    // A bad public key is a plain 400.
    let body = serde_json::json!({"lookup": offered.lookup, "public_key": "AAAA"});
    let err: ApiError = json(b.post(&server, PATH_PAIRING_CLAIM, &body).await, 400).await;
    assert!(err.message.contains("32"), "{}", err.message);
    // So is a proof that is not 32 bytes, or none.
    let path = format!("{PATH_PAIRING}/{}/proof", offered.pairing_id);
    for body in [serde_json::json!({"proof": "AAAA"}), serde_json::json!({})] {
        let err: ApiError = json(b.post(&server, &path, &body).await, 400).await;
        assert!(err.message.contains("proof"), "{}", err.message);
    }
    // A proof for a pairing nobody claimed is unknown.
    let err: ApiError = json(prove(&server, &b, &offered.pairing_id, &public_key(9)).await, 404).await;
    assert_eq!(err.code, "unknown_pairing");
    // Completing before anyone claimed is a state error.
    let path = format!("{PATH_PAIRING}/{}/complete", offered.pairing_id);
    let wrapped = PairingComplete { wrapped_account_key: "eA==".into() };
    let err: ApiError = json(a.post(&server, &path, &wrapped).await, 409).await;
    assert_eq!(err.code, "pairing_state");
    // The real code still works after the misses...
    let _: PairingClaimed = json(claim(&server, &b, &offered.lookup).await, 200).await;
    // ...and showing a new code cancels an unclaimed older one.
    let older = offer(&server, &a).await;
    let newer = offer(&server, &a).await;
    let err: ApiError = json(claim(&server, &b, &older.lookup).await, 404).await;
    assert_eq!(err.code, "pairing_code_invalid");
    let st: PairingStatus = json(status(&server, &a, &older.pairing_id).await, 200).await;
    assert_eq!(st.state, PairingState::Expired);
    let _: PairingClaimed = json(claim(&server, &b, &newer.lookup).await, 200).await;
}

#[tokio::test]
async fn expired_codes_fail() {
    let server = Server::start_with(&["--pairing-ttl-ms", "300"]).await;
    let a = Device::register(&server, "A").await;
    let b = Device::register(&server, "B").await;
    let offered = offer(&server, &a).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err: ApiError = json(claim(&server, &b, &offered.lookup).await, 404).await;
    assert_eq!(err.code, "pairing_code_invalid");
    let st: PairingStatus = json(status(&server, &a, &offered.pairing_id).await, 200).await;
    assert_eq!(st.state, PairingState::Expired);

    // Claimed in time but proven and completed too late.
    let offered = offer(&server, &a).await;
    let _: PairingClaimed = json(claim(&server, &b, &offered.lookup).await, 200).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err: ApiError = json(prove(&server, &b, &offered.pairing_id, &public_key(9)).await, 410).await;
    assert_eq!(err.code, "pairing_expired");
    let path = format!("{PATH_PAIRING}/{}/complete", offered.pairing_id);
    let wrapped = PairingComplete { wrapped_account_key: "eA==".into() };
    let err: ApiError = json(a.post(&server, &path, &wrapped).await, 410).await;
    assert_eq!(err.code, "pairing_expired");
}

#[tokio::test]
async fn a_refused_claim_joins_nobody_and_spends_the_code() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let b = Device::register(&server, "B").await;
    let offered = offer(&server, &a).await;
    let _: PairingClaimed = json(claim(&server, &b, &offered.lookup).await, 200).await;
    assert_eq!(prove(&server, &b, &offered.pairing_id, &public_key(9)).await.status(), 204);
    let refuse = format!("{PATH_PAIRING}/{}/refuse", offered.pairing_id);
    // Only the offerer refuses.
    let err: ApiError = json(b.post(&server, &refuse, &()).await, 404).await;
    assert_eq!(err.code, "unknown_pairing");
    assert_eq!(a.post(&server, &refuse, &()).await.status(), 204);
    assert_eq!(a.post(&server, &refuse, &()).await.status(), 204, "a repeat is fine");
    let st: PairingStatus = json(status(&server, &b, &offered.pairing_id).await, 200).await;
    assert_eq!(st.state, PairingState::Refused);
    // Nothing completes it afterwards, and the code takes no other claim.
    let path = format!("{PATH_PAIRING}/{}/complete", offered.pairing_id);
    let wrapped = PairingComplete { wrapped_account_key: "eA==".into() };
    let err: ApiError = json(a.post(&server, &path, &wrapped).await, 409).await;
    assert_eq!(err.code, "pairing_state");
    let err: ApiError = json(prove(&server, &b, &offered.pairing_id, &public_key(9)).await, 409).await;
    assert_eq!(err.code, "pairing_state", "a refused pairing takes no proof");
    let c = Device::register(&server, "C").await;
    let err: ApiError = json(claim(&server, &c, &offered.lookup).await, 404).await;
    assert_eq!(err.code, "pairing_code_invalid");
    let devices: AccountDevices = json(a.get(&server, PATH_ACCOUNT_DEVICES).await, 200).await;
    assert_eq!(devices.devices.len(), 1, "B did not join A's account");
}

#[tokio::test]
async fn guessing_is_rate_limited_per_client() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let b = Device::register(&server, "B").await;
    let offered = offer(&server, &a).await;
    let wrong = other_lookup(&offered.lookup);
    for _ in 0..PAIRING_GUESSES_PER_CLIENT_PER_MINUTE {
        assert_eq!(claim(&server, &b, wrong).await.status(), 404);
    }
    // Now even the right code waits.
    let response = claim(&server, &b, &offered.lookup).await;
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let err: ApiError = json(response, 429).await;
    assert_eq!(err.code, "rate_limited");
}

#[tokio::test]
async fn concurrent_wrong_claims_cannot_overrun_the_guess_limit() {
    const GUESSES: usize = 50;
    let server = std::sync::Arc::new(Server::start().await);
    let a = Device::register(&server, "A").await;
    let b = Device::register(&server, "B").await;
    let wrong = other_lookup(&offer(&server, &a).await.lookup);
    let guesses = (0..GUESSES)
        .map(|_| {
            let (server, b) = (server.clone(), b.clone());
            async move { claim(&server, &b, wrong).await }
        })
        .collect();
    assert_only_the_limit_judged(&all_at_once(guesses).await, PAIRING_GUESSES_PER_CLIENT_PER_MINUTE);
}

#[tokio::test]
async fn a_claimed_code_blocks_after_too_many_other_claims() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let b = Device::register(&server, "B").await;
    let c = Device::register(&server, "C").await;
    let offered = offer(&server, &a).await;
    let _: PairingClaimed = json(claim(&server, &b, &offered.lookup).await, 200).await;
    for _ in 0..PAIRING_GUESSES_PER_CODE {
        let err: ApiError = json(claim(&server, &c, &offered.lookup).await, 404).await;
        assert_eq!(err.code, "pairing_code_invalid");
    }
    let response = claim(&server, &c, &offered.lookup).await;
    assert!(response.headers().contains_key("retry-after"));
    let err: ApiError = json(response, 429).await;
    assert!(err.message.contains("new code"), "{}", err.message);
}
