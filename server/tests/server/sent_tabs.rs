//! Send to device: pushed or listed on the target, progress pushed back.

use std::time::Duration;

use baton_shared::api::{ApiError, PushMessage};
use baton_shared::session::DeliveryState;
use baton_shared::sync::{DeliveryUpdate, PendingTabs, SendTab, TabSent, PATH_SENDTAB, PATH_SENDTAB_PENDING};

use crate::common::{json, next_push, next_push_within, pair, Device, Server};

async fn set_state(server: &Server, d: &Device, send_id: &str, state: DeliveryState) -> reqwest::Response {
    d.post(server, &format!("{PATH_SENDTAB}/{send_id}/state"), &DeliveryUpdate { state }).await
}

#[tokio::test]
async fn sent_tab_is_pushed_listed_and_reported_back() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let mut b = Device::register(&server, "B").await;
    pair(&server, &a, &mut b).await;

    // B is offline: the tab waits in its pending list.
    let send = SendTab { target_device: b.id.clone(), body: "c2VhbGVkIHRhYg==".into() };
    let first: TabSent = json(a.post(&server, PATH_SENDTAB, &send).await, 200).await;
    let pending: PendingTabs = json(b.get(&server, PATH_SENDTAB_PENDING).await, 200).await;
    assert_eq!(pending.tabs.len(), 1);
    assert_eq!(pending.tabs[0].send_id, first.send_id);
    assert_eq!(pending.tabs[0].from_device, a.id);
    assert_eq!(pending.tabs[0].body, send.body);

    // B online: the next one is pushed.
    let mut a_socket = a.socket(&server).await;
    let mut b_socket = b.socket(&server).await;
    let second: TabSent = json(a.post(&server, PATH_SENDTAB, &send).await, 200).await;
    match next_push(&mut b_socket).await {
        PushMessage::TabReceived { send_id, from_device, body, sent_ms } => {
            assert_eq!((send_id, from_device, body), (second.send_id.clone(), a.id.clone(), send.body.clone()));
            assert!(sent_ms > 0);
        }
        other => panic!("expected tab_received, got {other:?}"),
    }

    // Progress goes back to the sender, forward only.
    assert_eq!(set_state(&server, &b, &first.send_id, DeliveryState::Delivered).await.status(), 204);
    assert_eq!(
        next_push(&mut a_socket).await,
        PushMessage::Delivery { send_id: first.send_id.clone(), state: DeliveryState::Delivered }
    );
    assert_eq!(set_state(&server, &b, &first.send_id, DeliveryState::Opened).await.status(), 204);
    assert_eq!(
        next_push(&mut a_socket).await,
        PushMessage::Delivery { send_id: first.send_id.clone(), state: DeliveryState::Opened }
    );
    assert_eq!(set_state(&server, &b, &first.send_id, DeliveryState::Delivered).await.status(), 204);
    assert_eq!(next_push_within(&mut a_socket, Duration::from_millis(200)).await, None);

    let pending: PendingTabs = json(b.get(&server, PATH_SENDTAB_PENDING).await, 200).await;
    let ids: Vec<_> = pending.tabs.iter().map(|t| t.send_id.clone()).collect();
    assert_eq!(ids, [second.send_id.as_str()]);

    // Only the target reports progress.
    let err: ApiError = json(set_state(&server, &a, &second.send_id, DeliveryState::Opened).await, 404).await;
    assert_eq!(err.code, "unknown_send");
    let err: ApiError = json(set_state(&server, &b, &second.send_id, DeliveryState::Sent).await, 400).await;
    assert_eq!(err.code, "invalid_request");
}

#[tokio::test]
async fn tabs_go_only_to_other_devices_of_the_account() {
    let server = Server::start().await;
    let a = Device::register(&server, "A").await;
    let stranger = Device::register(&server, "Stranger").await;
    for target in [&stranger.id, &a.id, &"f".repeat(32)] {
        let send = SendTab { target_device: target.clone(), body: "eA==".into() };
        let err: ApiError = json(a.post(&server, PATH_SENDTAB, &send).await, 404).await;
        assert_eq!(err.code, "unknown_device");
    }
    let pending: PendingTabs = json(stranger.get(&server, PATH_SENDTAB_PENDING).await, 200).await;
    assert!(pending.tabs.is_empty());

    let too_big =
        SendTab { target_device: stranger.id.clone(), body: "A".repeat(baton_shared::limits::MAX_SENT_TAB_BODY + 4) };
    let err: ApiError = json(a.post(&server, PATH_SENDTAB, &too_big).await, 400).await;
    assert!(err.message.contains("longer than"), "{}", err.message);
    let not_b64 = SendTab { target_device: stranger.id.clone(), body: "%%%".into() };
    let err: ApiError = json(a.post(&server, PATH_SENDTAB, &not_b64).await, 400).await;
    assert!(err.message.contains("base64"), "{}", err.message);
}
