//! The floor Keysmith's hot paths are measured against, in the same run on
//! the same machine (absolute numbers on shared machines vary): a minimal
//! axum server with no layers, on mimalloc as Keysmith is.
//!
//! - `GET /` answers a short JSON document: the most a server of this
//!   stack can answer here;
//! - `POST /verify` takes a body as the verify call does and answers its
//!   length: about the ceiling for a request that carries a body.
//!
//! `cargo run --release --features ssr --example floor -- 127.0.0.1:3900`
//! (scripts/bench.py starts it itself).

use axum::{
    body::Bytes,
    routing::{get, post},
    Json, Router,
};
use serde::Serialize;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

#[derive(Serialize)]
struct Length {
    length: usize,
}

#[tokio::main]
async fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3900".to_owned());
    let app = Router::new()
        .route("/", get(|| async { Json(Status { status: "ok" }) }))
        .route(
            "/verify",
            post(|body: Bytes| async move { Json(Length { length: body.len() }) }),
        );
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .expect("the floor server's address is free");
    println!("floor server on http://{address}");
    axum::serve(listener, app)
        .await
        .expect("the floor server runs");
}
