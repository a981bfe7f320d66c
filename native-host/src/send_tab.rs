//! "Send to device": one tab, encrypted for the account, pushed by the server
//! to the target, which opens it and reports delivered, then opened.

use baton_shared::limits::MAX_SENT_TAB_BODY;
use baton_shared::native::{ErrorCode, HostMessage};
use baton_shared::session::DeliveryState;
use baton_shared::sync::{DeliveryUpdate, PendingTabs, SendTab, SentTab, TabSent, PATH_SENDTAB, PATH_SENDTAB_PENDING};

use crate::context::{HostContext, RequestError};
use crate::server_api::CallError;
use crate::server_link::now_ms;
use crate::store::ReceivedTab;

pub async fn send(ctx: &HostContext, target: &str, url: String, title: String) -> Result<String, RequestError> {
    let known = ctx.store()?.account_devices().map_err(RequestError::storage)?.iter().any(|d| d.id == target);
    if !known {
        return Err(RequestError::new(ErrorCode::UnknownDevice, format!("device {target:?} is not in this account")));
    }
    let (api, device) = ctx.api()?;
    let keys = ctx.keys()?;
    let plain = serde_json::to_vec(&SentTab { url: url.clone(), title: title.clone() })
        .map_err(|e| RequestError::new(ErrorCode::Internal, e.to_string()))?;
    let body = keys
        .seal_sent_tab(&device.id, target, &plain)
        .map_err(|e| RequestError::new(ErrorCode::Internal, e.to_string()))?;
    if body.len() > MAX_SENT_TAB_BODY {
        return Err(RequestError::new(ErrorCode::InvalidRequest, "this tab's URL and title are too long to send"));
    }
    let sent: TabSent = api.post(PATH_SENDTAB, &SendTab { target_device: target.to_owned(), body }).await?;
    ctx.store()?.record_sent_tab(&sent.send_id, target, &url, &title, now_ms()).map_err(RequestError::storage)?;
    Ok(sent.send_id)
}

/// A tab arrived (push or pending list): tell the extension once, then
/// report it delivered.
pub async fn receive(ctx: &HostContext, send_id: &str, from_device: &str, body: &str) {
    if let Err(e) = receive_inner(ctx, send_id, from_device, body) {
        tracing::warn!("received tab {send_id}: {}", e.message);
        return;
    }
    report(ctx).await;
}

fn receive_inner(ctx: &HostContext, send_id: &str, from_device: &str, body: &str) -> Result<(), RequestError> {
    let me = ctx.device()?.ok_or_else(|| RequestError::new(ErrorCode::Offline, "not registered"))?;
    let keys = ctx.keys()?;
    let plain = keys
        .open_sent_tab(from_device, &me.id, body)
        .map_err(|e| RequestError::new(ErrorCode::Internal, e.to_string()))?;
    let tab: SentTab = serde_json::from_slice(&plain)
        .map_err(|e| RequestError::new(ErrorCode::Internal, format!("not a sent tab: {e}")))?;
    let mut store = ctx.store()?;
    let sender = store
        .account_devices()
        .map_err(RequestError::storage)?
        .into_iter()
        .find(|d| d.id == from_device)
        .map(|d| d.name)
        .unwrap_or_else(|| from_device.to_owned());
    let received = ReceivedTab {
        send_id: send_id.to_owned(),
        from_device: from_device.to_owned(),
        url: tab.url,
        title: tab.title,
    };
    if store.receive_tab(&received, now_ms()).map_err(RequestError::storage)? {
        ctx.events.send(HostMessage::TabReceived {
            send_id: received.send_id,
            from_device: sender,
            url: received.url,
            title: received.title,
        });
    }
    Ok(())
}

/// The extension opened a received tab: durable first, then reported.
pub async fn opened(ctx: &HostContext, send_id: &str) -> Result<(), RequestError> {
    if !ctx.store()?.mark_opened(send_id).map_err(RequestError::storage)? {
        return Err(RequestError::new(ErrorCode::InvalidRequest, format!("no received tab has send id {send_id:?}")));
    }
    report(ctx).await;
    Ok(())
}

/// Progress of a tab this device sent.
pub fn delivery(ctx: &HostContext, send_id: String, state: DeliveryState) {
    if let Ok(mut store) = ctx.store() {
        if let Err(e) = store.set_sent_state(&send_id, state) {
            tracing::warn!("sent tab {send_id}: {e}");
        }
    }
    ctx.events.send(HostMessage::Delivery { send_id, state });
}

/// Tells senders every state they have not heard yet; what fails is retried
/// on the next connection.
pub async fn report(ctx: &HostContext) {
    let Ok((api, _)) = ctx.api() else { return };
    let pending = match ctx.store().and_then(|s| s.unreported_tabs().map_err(RequestError::storage)) {
        Ok(p) => p,
        Err(e) => return tracing::warn!("delivery reports: {}", e.message),
    };
    for (send_id, state) in pending {
        let path = format!("{PATH_SENDTAB}/{send_id}/state");
        match api.post_empty(&path, &DeliveryUpdate { state }).await {
            Ok(()) => {
                if let Ok(mut store) = ctx.store() {
                    let _ = store.mark_reported(&send_id, state);
                }
            }
            // The sender's tab is gone from the server: nothing more to report.
            Err(CallError::Status { status: 404, .. }) => {
                if let Ok(mut store) = ctx.store() {
                    let _ = store.mark_reported(&send_id, state);
                }
            }
            Err(e) => return tracing::info!("delivery report for {send_id} deferred: {e}"),
        }
    }
}

/// After (re)connecting: tabs sent while we were away, and unsent reports.
pub async fn catch_up(ctx: &HostContext) {
    if let Ok((api, _)) = ctx.api() {
        match api.get::<PendingTabs>(PATH_SENDTAB_PENDING).await {
            Ok(pending) => {
                for tab in pending.tabs {
                    if let Err(e) = receive_inner(ctx, &tab.send_id, &tab.from_device, &tab.body) {
                        tracing::warn!("pending tab {}: {}", tab.send_id, e.message);
                    }
                }
            }
            Err(e) => tracing::info!("pending tabs: {e}"),
        }
    }
    report(ctx).await;
}
