//! A reverse proxy in front of the app that sets or strips `Authorization` and passes every
//! other header, `Host` and `Origin` included, as the client sent it: for clients that cannot
//! send our header (the MCP conformance suite) and for requests the SDK cannot make without it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};

struct Upstream {
    client: reqwest::Client,
    target: String,
    authorization: Option<String>,
}

/// Hop-by-hop headers (and lengths, which the proxy's own framing sets) never cross a proxy.
fn crosses(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
    )
}

/// Forwards one request upstream with `Authorization` replaced (or removed). Request bodies are
/// read whole; answers stream back as they come (status, headers, body).
async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "proxy: body too large").into_response();
    };
    let url = format!("{}{}", upstream.target, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if crosses(name) && name != AUTHORIZATION {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(authorization) = &upstream.authorization {
        headers.insert(AUTHORIZATION, authorization.parse().expect("a header value"));
    }
    let answer = match upstream.client.request(parts.method, url).headers(headers).body(body).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("proxy: {e}")).into_response(),
    };
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if crosses(name) {
            response = response.header(name, value);
        }
    }
    response.body(Body::from_stream(answer.bytes_stream())).expect("a response")
}

/// Starts the proxy on a random loopback port in front of `target` (a base URL), sending
/// `Authorization: Bearer <bearer>` on every request, or no `Authorization` at all for `None`.
pub async fn start(target: &str, bearer: Option<&str>) -> SocketAddr {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the proxy's client");
    let authorization = bearer.map(|key| format!("Bearer {key}"));
    let upstream = Arc::new(Upstream { client, target: target.to_owned(), authorization });
    let router = axum::Router::new().fallback(forward).with_state(upstream);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.expect("the proxy serves") });
    addr
}
