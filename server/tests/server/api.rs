//! The HTTP API: status, registration, authentication and typed errors.

use baton_shared::api::{
    ApiError, DeviceKind, DeviceRecord, ServerInfo, PATH_DEVICES, PATH_DEVICE_SELF, PATH_STATUS, SERVICE_NAME,
};
use baton_shared::limits::MAX_HTTP_BODY;
use serde_json::json;

use crate::common::{client, Server};

async fn api_error(response: reqwest::Response, status: u16) -> ApiError {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn status_names_the_service() {
    let server = Server::start().await;
    let response = client().get(server.url(PATH_STATUS)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let info: ServerInfo = response.json().await.unwrap();
    assert_eq!(info.service, SERVICE_NAME);
    assert_eq!(info.version, baton_shared::VERSION);
}

#[tokio::test]
async fn register_then_read_self() {
    let server = Server::start().await;
    let body = json!({"name": "  Work laptop ", "kind": "laptop"});
    let response = client().post(server.url(PATH_DEVICES)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let registered: baton_shared::api::DeviceRegistered = response.json().await.unwrap();
    assert_eq!(registered.device_token.len(), 64);
    assert_eq!(registered.device_id.len(), 32);
    assert_ne!(registered.account_id, registered.device_id);

    let me: DeviceRecord = client()
        .get(server.url(PATH_DEVICE_SELF))
        .bearer_auth(&registered.device_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.device_id, registered.device_id);
    assert_eq!(me.account_id, registered.account_id);
    assert_eq!(me.name, "Work laptop", "name is stored trimmed");
    assert_eq!(me.kind, DeviceKind::Laptop);
    assert!(me.created_at > 0 && me.last_seen >= me.created_at);

    // A second registration is a different device in a different account.
    let other = server.register("Phone").await;
    assert_ne!(other.device_id, registered.device_id);
    assert_ne!(other.account_id, registered.account_id);
    assert_ne!(other.device_token, registered.device_token);
}

#[tokio::test]
async fn malformed_bodies_get_typed_400s() {
    let server = Server::start().await;
    let post = |body: &'static str| {
        client().post(server.url(PATH_DEVICES)).header("content-type", "application/json").body(body).send()
    };

    let err = api_error(post("{\"name\": ").await.unwrap(), 400).await;
    assert_eq!(err.code, "invalid_json");

    let err = api_error(post("{\"name\": \"x\"}").await.unwrap(), 400).await;
    assert_eq!(err.code, "invalid_request");
    assert!(err.message.contains("kind"), "{}", err.message);

    let err = api_error(post("{\"name\": \"x\", \"kind\": \"toaster\"}").await.unwrap(), 400).await;
    assert_eq!(err.code, "invalid_request");

    let no_type = client().post(server.url(PATH_DEVICES)).body("{}").send().await.unwrap();
    assert_eq!(api_error(no_type, 400).await.code, "invalid_request");
}

#[tokio::test]
async fn registrations_are_limited_per_address_and_refused_ones_do_not_count() {
    let server = Server::start_with(&["--registrations-per-hour", "3"]).await;
    let register = |name: &'static str| {
        client().post(server.url(PATH_DEVICES)).json(&json!({"name": name, "kind": "laptop"})).send()
    };
    // A malformed one is refused before it is counted.
    assert_eq!(register("").await.unwrap().status(), 400);
    // Sent at once, exactly the limit get through.
    let all = futures_util::future::join_all((0..6).map(|_| register("Laptop"))).await;
    let statuses: Vec<u16> = all.into_iter().map(|r| r.unwrap().status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    let response = register("Laptop").await.unwrap();
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    let err = api_error(response, 429).await;
    assert_eq!(err.code, "rate_limited");
    assert!(err.message.contains("registered from this address"), "{}", err.message);
}

#[tokio::test]
async fn bad_device_names_are_refused() {
    let server = Server::start().await;
    for name in ["", "   ", "tab\there", &"x".repeat(101)] {
        let body = json!({"name": name, "kind": "phone"});
        let response = client().post(server.url(PATH_DEVICES)).json(&body).send().await.unwrap();
        let err = api_error(response, 400).await;
        assert_eq!(err.code, "invalid_request", "{name:?}");
        assert!(err.message.contains("device name"), "{}", err.message);
    }
    // The longest allowed name is fine.
    server.register(&"é".repeat(100)).await;
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let server = Server::start().await;
    let body = format!("{{\"name\":\"{}\",\"kind\":\"phone\"}}", "x".repeat(MAX_HTTP_BODY));
    let response = client()
        .post(server.url(PATH_DEVICES))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(api_error(response, 413).await.code, "payload_too_large");
    // The server is still fine afterwards.
    server.register("After").await;
}

#[tokio::test]
async fn missing_or_unknown_token_is_401() {
    let server = Server::start().await;
    server.register("Real").await;
    let url = server.url(PATH_DEVICE_SELF);

    let none = client().get(&url).send().await.unwrap();
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_eq!(api_error(none, 401).await.code, "unauthorized");

    let unknown = client().get(&url).bearer_auth("0".repeat(64)).send().await.unwrap();
    assert_eq!(api_error(unknown, 401).await.code, "unauthorized");

    let wrong_scheme = client().get(&url).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(api_error(wrong_scheme, 401).await.code, "unauthorized");

    let huge = client().get(&url).bearer_auth("a".repeat(4000)).send().await.unwrap();
    assert_eq!(api_error(huge, 401).await.code, "unauthorized");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json() {
    let server = Server::start().await;
    let missing = client().get(server.url("/v1/nope")).send().await.unwrap();
    assert_eq!(api_error(missing, 404).await.code, "not_found");

    let wrong = client().delete(server.url(PATH_STATUS)).send().await.unwrap();
    assert_eq!(api_error(wrong, 405).await.code, "method_not_allowed");
}

#[tokio::test]
async fn a_bad_path_parameter_is_a_json_400_and_only_after_authentication() {
    use reqwest::Method;
    let server = Server::start().await;
    let token = server.register("Real").await.device_token;
    // `%FF` does not decode to UTF-8.
    for (method, path) in [
        (Method::GET, "/v1/cobrowse/%FF/audit"),
        (Method::GET, "/v1/cobrowse/%FF/recording"),
        (Method::GET, "/v1/cobrowse/%FF/relay"),
        (Method::POST, "/v1/sendtab/%FF/state"),
        (Method::GET, "/v1/orgs/%FF/sessions"),
        (Method::PUT, "/v1/orgs/org/members/%FF"),
    ] {
        let anonymous = client().request(method.clone(), server.url(path)).send().await.unwrap();
        assert_eq!(api_error(anonymous, 401).await.code, "unauthorized", "{method} {path}");
        let authenticated =
            client().request(method.clone(), server.url(path)).bearer_auth(&token).send().await.unwrap();
        let err = api_error(authenticated, 400).await;
        assert_eq!(err.code, "invalid_request", "{method} {path}");
        assert!(err.message.contains("UTF-8"), "{method} {path}: {}", err.message);
    }
}
