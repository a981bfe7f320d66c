//! Pairing: a second device joins the account of the device showing a code.
//!
//! The code is `LOOKUP-SECRET`. The server knows `LOOKUP` (to match the two
//! devices) but never `SECRET`, the password of a SPAKE2 exchange between
//! the two hosts ([`CodeKey`]): the account key travels wrapped under a key
//! derived from it, so a server that put its own messages in between could
//! test one guess of `SECRET` per pairing, and none offline. The claimer
//! proves it derived the same key ([`PairingKeys::claim_proof`]) and the
//! offerer hands the key over only then: guessing the 4-character `LOOKUP`
//! claims a code but joins nobody's account. The SPAKE2 states live only in
//! memory; a host restart abandons a pairing in progress.

use std::sync::Arc;
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use tokio::sync::broadcast;

use baton_shared::api::PushMessage;
use baton_shared::native::ErrorCode;
use baton_shared::records::RecordBody;
use baton_shared::sync::{
    PairingClaim, PairingClaimed, PairingComplete, PairingOffer, PairingOffered, PairingProof, PairingState,
    PairingStatus, PATH_PAIRING, PATH_PAIRING_CLAIM, PATH_PAIRING_OFFER,
};

use crate::context::{HostContext, RequestError};
use crate::crypto::{AccountKeys, CodeKey, CodeSide, PairingKeys, PAIRING_PURPOSE};
use crate::server_api::{CallError, ServerApi};

/// Crockford base32: no I, L, O, U, so a code read aloud is unambiguous.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const SECRET_LEN: usize = 6;
/// How long the joining device waits for the other to hand over the key.
const JOIN_WAIT: Duration = Duration::from_secs(120);
/// Status polls, the fallback when a push does not arrive.
const POLL: Duration = Duration::from_millis(1_000);
/// Tries of a call that must reach the server (the proof, the key) before
/// the pairing is given up.
const CALL_TRIES: u32 = 10;

fn failed(message: impl Into<String>) -> RequestError {
    RequestError::new(ErrorCode::PairingFailed, message)
}

/// Shows a code; completes the pairing in the background once claimed.
pub async fn start(ctx: Arc<HostContext>) -> Result<(String, i64), RequestError> {
    let (api, _) = ctx.api()?;
    let keys = ctx.keys()?;
    let secret = random_secret()?;
    let key = CodeKey::generate(&secret, CodeSide::Shows, PAIRING_PURPOSE);
    let pushes = ctx.push.subscribe();
    let offered: PairingOffered = api.post(PATH_PAIRING_OFFER, &PairingOffer { public_key: key.public_b64() }).await?;
    let code = format!("{}-{secret}", offered.lookup);
    let expires_ms = offered.expires_ms;
    tokio::spawn(async move {
        match finish_offer(&api, pushes, &offered, key, &keys).await {
            Ok(()) => {
                tracing::info!("pairing {} complete: a device joined this account", offered.pairing_id);
                ctx.sync_wake.notify_one();
            }
            Err(e) => tracing::warn!("pairing {}: {e}", offered.pairing_id),
        }
    });
    Ok((code, expires_ms))
}

async fn finish_offer(
    api: &ServerApi,
    mut pushes: broadcast::Receiver<PushMessage>,
    offered: &PairingOffered,
    key: CodeKey,
    keys: &AccountKeys,
) -> Result<(), String> {
    let id = &offered.pairing_id;
    let left_ms = offered.expires_ms.saturating_sub(crate::server_link::now_ms()).clamp(0, 3_600_000);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(left_ms.unsigned_abs());
    // The claim is told (pushed, or in the status) once it carries its proof.
    let (claim_pk, proof) = loop {
        tokio::select! {
            push = pushes.recv() => {
                if let Ok(PushMessage::PairingClaimed { pairing_id, claim_public_key, claim_proof }) = push {
                    if &pairing_id == id {
                        break (claim_public_key, claim_proof);
                    }
                }
                continue;
            }
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::time::sleep_until(deadline) => return Err("the code expired unclaimed".into()),
        }
        match api.get::<PairingStatus>(&format!("{PATH_PAIRING}/{id}")).await {
            Ok(PairingStatus {
                state: PairingState::Claimed,
                claim_public_key: Some(pk),
                claim_proof: Some(proof),
                ..
            }) => break (pk, proof),
            Ok(PairingStatus {
                state: PairingState::Expired | PairingState::Complete | PairingState::Refused, ..
            }) => return Err("the code expired or was used".into()),
            Ok(_) => {}
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(e.to_string()),
        }
    };
    let paired = key.pair(&claim_pk).ok().filter(|p| p.claim_proof_holds(id, &proof));
    let Some(paired) = paired else {
        // Someone found the lookup without the secret part: nothing is
        // handed over, and the claimer hears so (best effort: it gives up
        // at its own deadline otherwise).
        let _ = api.post_empty(&format!("{PATH_PAIRING}/{id}/refuse"), &()).await;
        return Err("a device claimed the code without knowing its secret part; nothing was handed over \
                    (show a new code)"
            .into());
    };
    let wrapped = paired.wrap(id, keys.account_key()).map_err(|e| e.to_string())?;
    let body = PairingComplete { wrapped_account_key: wrapped };
    post_retrying(api, &format!("{PATH_PAIRING}/{id}/complete"), &body)
        .await
        .map_err(|e| format!("cannot hand the key over: {e}"))
}

/// Posts, retrying while the server is unreachable or failing.
async fn post_retrying(api: &ServerApi, path: &str, body: &impl Serialize) -> Result<(), CallError> {
    let mut attempt = 0;
    loop {
        match api.post_empty(path, body).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt + 1 < CALL_TRIES => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(baton_shared::limits::backoff_ms(attempt).into())).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Splits and normalises a typed code: case-insensitive, and the letters
/// people confuse with digits are read as those digits.
pub fn parse_code(code: &str) -> Result<(String, String), RequestError> {
    split_code(code).map_err(|problem| {
        failed(format!("A pairing code looks like ABCD-7KQ2M9 (as shown on the other device); {problem}"))
    })
}

/// `LOOKUP-SECRET` → `(LOOKUP, SECRET)`, normalised; the error says what is
/// wrong with the code, in words (shared by pairing and co-browsing codes).
pub fn split_code(code: &str) -> Result<(String, String), String> {
    let code = code.trim().to_ascii_uppercase();
    let Some((lookup, secret)) = code.rsplit_once('-') else {
        return Err("this one has no dash".into());
    };
    if lookup.is_empty() || !lookup.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("the part before the dash is not valid".into());
    }
    let secret: String = secret
        .chars()
        .map(|c| match c {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    if secret.len() != SECRET_LEN || !secret.bytes().all(|b| CROCKFORD.contains(&b)) {
        return Err(format!("the part after the dash must be {SECRET_LEN} letters or digits"));
    }
    Ok((lookup.to_owned(), secret))
}

pub fn random_secret() -> Result<String, RequestError> {
    let mut bytes = [0u8; SECRET_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RequestError::new(ErrorCode::Internal, "the system random generator failed"))?;
    // 256 is a multiple of 32, so `% 32` is unbiased.
    Ok(bytes.iter().map(|b| CROCKFORD[(*b % 32) as usize] as char).collect())
}

/// Joins the account of the device showing `code`; returns its account id.
pub async fn join(ctx: &HostContext, code: &str) -> Result<String, RequestError> {
    let (lookup, secret) = parse_code(code)?;
    let (api, _) = ctx.api()?;
    let key = CodeKey::generate(&secret, CodeSide::Types, PAIRING_PURPOSE);
    let mut pushes = ctx.push.subscribe();
    let claim = PairingClaim { lookup, public_key: key.public_b64() };
    let claimed: PairingClaimed = api.post(PATH_PAIRING_CLAIM, &claim).await.map_err(|e| match e {
        CallError::Status { status: 404, .. } => failed("The code is wrong or has expired"),
        CallError::Status { status: 429, .. } => {
            RequestError::new(ErrorCode::RateLimited, "Too many wrong codes; wait a minute and try again")
        }
        other => RequestError::from(other),
    })?;
    let id = claimed.pairing_id.clone();
    let paired: PairingKeys = key
        .pair(&claimed.offer_public_key)
        .map_err(|e| failed(format!("the other device's key is not usable: {e}")))?;
    let proof = PairingProof { proof: paired.claim_proof(&id) };
    post_retrying(&api, &format!("{PATH_PAIRING}/{id}/proof"), &proof).await.map_err(|e| match e {
        CallError::Status { status: 410, .. } => failed("The code has expired"),
        CallError::Status { status: 404 | 409, .. } => {
            failed("The pairing was ended on the other side; show a new code there")
        }
        other => RequestError::from(other),
    })?;

    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    let status = loop {
        tokio::select! {
            push = pushes.recv() => {
                let ours = matches!(&push, Ok(PushMessage::PairingCompleted { pairing_id, .. }) if *pairing_id == id);
                if !ours {
                    continue;
                }
            }
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::time::sleep_until(deadline) => {
                return Err(failed("The other device did not finish pairing within 2 minutes (if it was restarted, show a new code there)"));
            }
        }
        match api.get::<PairingStatus>(&format!("{PATH_PAIRING}/{id}")).await {
            Ok(s @ PairingStatus { state: PairingState::Complete, .. }) => break s,
            Ok(PairingStatus { state: PairingState::Expired, .. }) => return Err(failed("The code has expired")),
            Ok(PairingStatus { state: PairingState::Refused, .. }) => {
                return Err(failed("The other device refused: the code's secret part does not match"))
            }
            Ok(_) => {}
            Err(e) if e.is_transient() => {}
            Err(e) => return Err(e.into()),
        }
    };
    let (Some(wrapped), Some(account_id)) = (status.wrapped_account_key, status.account_id) else {
        return Err(failed("the server completed the pairing without the key"));
    };
    let account_key = paired
        .unwrap(&id, &wrapped)
        .map_err(|_| failed("The key did not open: the code's secret part does not match"))?;
    adopt(ctx, &account_id, &account_key)?;
    Ok(account_id)
}

/// Takes on the account key: re-token every local record and queue them all
/// for upload into the new account; the old account's data is forgotten.
fn adopt(ctx: &HostContext, account_id: &str, account_key: &[u8]) -> Result<(), RequestError> {
    let keys = AccountKeys::from_bytes(account_key).map_err(|e| failed(format!("the key is not usable: {e}")))?;
    let sealed = ctx.vault.seal(keys.account_key(), &ctx.account_key_context()).map_err(RequestError::storage)?;
    {
        let mut store = ctx.store()?;
        let mut tokens = Vec::new();
        for record in store.live_records().map_err(RequestError::storage)? {
            let Ok(body) = serde_json::from_str::<RecordBody>(&record.body) else {
                tracing::warn!("local record {} is damaged; it will be dropped from sync", record.id);
                continue;
            };
            let token = keys.token(&body).map_err(|e| RequestError::new(ErrorCode::Internal, e.to_string()))?;
            tokens.push((record.collection, record.id, token));
        }
        store.join_account(&ctx.server_url, account_id, &sealed, &tokens).map_err(RequestError::storage)?;
    }
    ctx.set_keys(Arc::new(keys));
    ctx.refresh_status();
    ctx.sync_wake.notify_one();
    tracing::info!("joined account {account_id}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_parsed_forgivingly_and_refused_clearly() {
        assert_eq!(parse_code(" abcd-7kq2m9 ").unwrap(), ("ABCD".into(), "7KQ2M9".into()));
        assert_eq!(parse_code("AB-CD-0OIL12").unwrap(), ("AB-CD".into(), "001112".into()));
        for bad in ["", "ABCD", "ABCD-", "-7KQ2M9", "ABCD-7KQ2M", "ABCD-7KQ2M9X", "AB CD-7KQ2M9", "ABCD-7KQ2U9"] {
            let e = parse_code(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::PairingFailed, "{bad}");
            assert!(e.message.contains("ABCD-7KQ2M9"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn secrets_use_the_crockford_alphabet() {
        let s = random_secret().unwrap();
        assert_eq!(s.len(), SECRET_LEN);
        assert!(parse_code(&format!("X-{s}")).is_ok());
    }
}
