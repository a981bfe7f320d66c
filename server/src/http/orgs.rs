//! Organisation routes. Every caller is a registered device; what it may do
//! follows its account's role in the organisation (`db::orgs`).
//!
//! | Route                                  | Who    | What |
//! |----------------------------------------|--------|------|
//! | `POST /v1/orgs`                         | anyone not in an organisation | create one; the caller's account is its admin |
//! | `POST /v1/orgs/{org}/invites`           | admin  | a single-use invitation code for a role (`admin`, `operator`, `member`), valid 7 days |
//! | `POST /v1/orgs/join`                    | anyone not in an organisation | accept an invitation: the caller's account joins with its role |
//! | `PUT /v1/orgs/{org}/members/{account}`  | admin  | change a member's role |
//! | `PUT /v1/orgs/{org}/policy`             | admin  | retention days and operator allowlist (account ids) |
//! | `GET /v1/orgs/{org}/sessions`           | admin  | the members' co-browsing sessions |
//! | `GET /v1/orgs/{org}/audit`              | admin  | their audit log as JSON lines (`application/x-ndjson`) |
//! | `POST /v1/orgs/{org}/retention`         | admin  | delete what is past retention now (also done every few minutes) |

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use baton_shared::api::{AcceptInvite, OrgJoined};

use super::checks;
use super::error::{code, HttpError};
use super::extract::{AuthDevice, ValidJson, ValidPath, Validate};
use super::AppState;
use crate::clock::now_ms;
use crate::credentials::hash_token;
use crate::db::orgs::{self, Deleted, OrgError, OrgPolicy, OrgRole, SessionSummary, RETENTION_DAYS};
use crate::db::{Db, DbError};

/// How often expired co-browsing records are deleted.
const RETENTION_SWEEP: Duration = Duration::from_secs(300);
const MAX_ORG_NAME: usize = 200;
const MAX_ALLOWLIST: usize = 10_000;
/// Invitation codes are 64 hex characters; anything much longer is not one.
const MAX_INVITE_CODE: usize = 128;

impl From<OrgError> for HttpError {
    fn from(e: OrgError) -> Self {
        match e {
            OrgError::AlreadyMember => HttpError::new(StatusCode::CONFLICT, code::CONFLICT, e.to_string()),
            OrgError::NotAdmin => HttpError::new(StatusCode::FORBIDDEN, code::FORBIDDEN, e.to_string()),
            OrgError::NotMember => HttpError::new(StatusCode::NOT_FOUND, code::NOT_A_MEMBER, e.to_string()),
            OrgError::UnknownInvite => HttpError::new(StatusCode::NOT_FOUND, code::INVITE_INVALID, e.to_string()),
            OrgError::Db(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateOrg {
    pub name: String,
    #[serde(default)]
    pub retention_days: Option<u32>,
}

impl Validate for CreateOrg {
    fn validate(self) -> Result<Self, HttpError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.len() > MAX_ORG_NAME || name.chars().any(char::is_control) {
            return Err(HttpError::invalid_request(format!("name must be 1 to {MAX_ORG_NAME} printable characters")));
        }
        if let Some(days) = self.retention_days {
            retention(days)?;
        }
        Ok(Self { name, ..self })
    }
}

fn retention(days: u32) -> Result<(), HttpError> {
    RETENTION_DAYS.contains(&days).then_some(()).ok_or_else(|| {
        HttpError::invalid_request(format!(
            "retention_days must be between {} and {}",
            RETENTION_DAYS.start(),
            RETENTION_DAYS.end()
        ))
    })
}

#[derive(Debug, Serialize)]
pub struct OrgCreated {
    pub org_id: String,
}

pub async fn create(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<CreateOrg>,
) -> Result<Json<OrgCreated>, HttpError> {
    let org_id = state.ids.id()?;
    let id = org_id.clone();
    let days = req.retention_days.unwrap_or(orgs::DEFAULT_RETENTION_DAYS);
    state.db.call(move |c| orgs::create(c, &id, &req.name, &device.account_id, days, now_ms())).await?;
    tracing::info!(org_id, "organisation created");
    Ok(Json(OrgCreated { org_id }))
}

#[derive(Debug, Deserialize)]
pub struct SetMember {
    pub role: OrgRole,
}

impl Validate for SetMember {
    fn validate(self) -> Result<Self, HttpError> {
        Ok(self)
    }
}

pub async fn set_member(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath((org_id, account_id)): ValidPath<(String, String)>,
    ValidJson(req): ValidJson<SetMember>,
) -> Result<StatusCode, HttpError> {
    checks::id("organisation id", &org_id)?;
    checks::id("account id", &account_id)?;
    state.db.call(move |c| orgs::set_member(c, &org_id, &device, &account_id, req.role)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize)]
pub struct Invited {
    /// Give it to the person to accept (`POST /v1/orgs/join`); shown once.
    pub code: String,
    pub role: OrgRole,
    pub expires_ms: i64,
}

pub async fn invite(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(org_id): ValidPath<String>,
    ValidJson(req): ValidJson<SetMember>,
) -> Result<Json<Invited>, HttpError> {
    checks::id("organisation id", &org_id)?;
    let code = state.ids.device_token()?;
    let hash = hash_token(&code);
    let role = req.role;
    let expires_ms = state.db.call(move |c| orgs::invite(c, &org_id, &device, &hash, role, now_ms())).await?;
    Ok(Json(Invited { code, role, expires_ms }))
}

impl Validate for AcceptInvite {
    fn validate(self) -> Result<Self, HttpError> {
        let code = self.code.trim().to_ascii_lowercase();
        let ok = !code.is_empty() && code.len() <= MAX_INVITE_CODE && code.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then_some(Self { code }).ok_or_else(|| HttpError::invalid_request("code is not an invitation code"))
    }
}

pub async fn join(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidJson(req): ValidJson<AcceptInvite>,
) -> Result<Json<OrgJoined>, HttpError> {
    let hash = hash_token(&req.code);
    let account = device.account_id.clone();
    let m = state.db.call(move |c| orgs::accept(c, &hash, &account, now_ms())).await?;
    tracing::info!(org_id = %m.org_id, account_id = %device.account_id, "account joined an organisation");
    Ok(Json(OrgJoined { org_id: m.org_id, role: m.role }))
}

impl Validate for OrgPolicy {
    fn validate(self) -> Result<Self, HttpError> {
        retention(self.retention_days)?;
        if self.operator_allowlist.len() > MAX_ALLOWLIST {
            return Err(HttpError::invalid_request(format!("at most {MAX_ALLOWLIST} operators")));
        }
        for account in &self.operator_allowlist {
            checks::id("operator account id", account)?;
        }
        Ok(self)
    }
}

pub async fn set_policy(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(org_id): ValidPath<String>,
    ValidJson(policy): ValidJson<OrgPolicy>,
) -> Result<StatusCode, HttpError> {
    checks::id("organisation id", &org_id)?;
    state.db.call(move |c| orgs::set_policy(c, &org_id, &device, &policy)).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn sessions(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(org_id): ValidPath<String>,
) -> Result<Json<Vec<SessionSummary>>, HttpError> {
    checks::id("organisation id", &org_id)?;
    Ok(Json(state.db.call(move |c| orgs::sessions(c, &org_id, &device)).await?))
}

pub async fn audit(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(org_id): ValidPath<String>,
) -> Result<Response, HttpError> {
    checks::id("organisation id", &org_id)?;
    let lines = state.db.call(move |c| orgs::audit_export(c, &org_id, &device)).await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response())
}

pub async fn run_retention(
    State(state): State<AppState>,
    AuthDevice(device): AuthDevice,
    ValidPath(org_id): ValidPath<String>,
) -> Result<Json<Deleted>, HttpError> {
    checks::id("organisation id", &org_id)?;
    let deleted = state
        .db
        .call(move |c| {
            orgs::require_admin(c, &org_id, &device)?;
            Ok::<_, OrgError>(orgs::enforce_retention(c, Some(&org_id), now_ms())?)
        })
        .await?;
    Ok(Json(deleted))
}

/// Deletes what is past every organisation's retention, and past
/// `default_days` for accounts in none, now and then every
/// [`RETENTION_SWEEP`], until the server stops. Needs a Tokio runtime;
/// without one (a router built outside the server) nothing is swept.
pub fn start_retention(db: Db, default_days: u32, mut shutdown: watch::Receiver<bool>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(RETENTION_SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
            let pass = db
                .call(move |c| {
                    let now = now_ms();
                    let mut deleted = orgs::enforce_retention(c, None, now)?;
                    deleted += orgs::enforce_default_retention(c, default_days, now)?;
                    Ok::<_, DbError>(deleted)
                })
                .await;
            match pass {
                Ok(d) if d.sessions > 0 => tracing::info!(
                    sessions = d.sessions,
                    frames = d.frames,
                    "retention: deleted expired co-browsing records"
                ),
                Ok(_) => {}
                Err::<_, DbError>(err) => tracing::error!(%err, "retention pass failed"),
            }
        }
    });
}
