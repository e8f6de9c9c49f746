//! Any body on any route of the sidecar (decisions, batches and the data
//! API, with the admin token): never a panic, never a 5xx.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token-0123456789";

fn setup() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static CELL: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    CELL.get_or_init(|| {
        let store = teamgate::Store::open(teamgate::Bundle::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")))
            .expect("the shipped bundle loads");
        let config = teamgate::server::ServerConfig {
            admin_token: Some(TOKEN.into()),
            ..teamgate::server::ServerConfig::default()
        };
        let state = Arc::new(teamgate::server::AppState::new(Arc::new(store), config, None));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        (rt, teamgate::server::router(state))
    })
}

const ROUTES: [(&str, &str); 7] = [
    ("POST", "/v1/is_authorized"),
    ("POST", "/v1/batch_is_authorized"),
    ("POST", "/v1/entities"),
    ("DELETE", "/v1/entities"),
    ("PUT", "/v1/data"),
    ("GET", "/v1/entities/User/bob"),
    ("POST", "/v1/reload"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, path) = ROUTES[pick as usize % ROUTES.len()];
    let (rt, router) = setup();
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .expect("request");
    let status = rt
        .block_on(router.clone().oneshot(req))
        .expect("infallible")
        .status();
    assert!(!status.is_server_error(), "{method} {path}: {status}");
});
