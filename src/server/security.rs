//! HTTP-level defences of the pages and the API (those every request
//! passes are the edge's): the pages' nonce and CSP, the cross-site request
//! check, the client's address, and honest status codes for
//! server-function errors.

use super::AppState;
use crate::{auth::identity::ClientInfo, error::AppError};
use axum::{
    body::{to_bytes, Body},
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use ipnet::IpNet;
use std::{net::IpAddr, net::SocketAddr, sync::Arc};

/// The CSP for server-rendered pages: only our own scripts, the inline
/// hydration script carrying this response's nonce, and our wasm.
pub fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The nonce of one page request, minted before anything renders and left
/// in the request's extensions: the page's scripts carry it (the request
/// context hands it to Leptos) and [`page_nonce`] names it in the page's
/// CSP header. No other request can see it, nor touch that header.
#[derive(Clone, Debug)]
pub struct PageNonce(pub Arc<str>);

/// Mints this request's [`PageNonce`]; an HTML answer is sent with the page
/// CSP naming it, every other answer keeps the default CSP.
pub async fn page_nonce(mut req: Request, next: Next) -> Response {
    let nonce = leptos::nonce::Nonce::new();
    let nonce = PageNonce(nonce.as_inner().clone());
    req.extensions_mut().insert(nonce.clone());
    let mut response = next.run(req).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        if let Ok(csp) = HeaderValue::from_str(&page_csp(&nonce.0)) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, csp);
        }
    }
    response
}

/// Refuses state-changing requests that a browser sent on behalf of another
/// site. SameSite cookies alone leave older browsers open, so the request
/// must prove where it came from with `Origin` (or, failing that, `Referer`).
/// The public REST API authenticates with headers, not cookies, so it is
/// not exposed to this attack and is left to its own checks.
pub async fn reject_cross_site(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe
        || req.uri().path().starts_with("/api/v2/")
        || is_same_origin(req.headers(), state.config.public_url.as_deref())
    {
        return next.run(req).await;
    }
    tracing::warn!(path = %req.uri().path(), "refused a cross-site request");
    error_response(&AppError::Forbidden(
        "This request did not come from a Keysmith page, so it was refused.".into(),
    ))
}

fn is_same_origin(headers: &HeaderMap, public_url: Option<&str>) -> bool {
    if let Some(site) = header_str(headers, "sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let Some(source) =
        header_str(headers, header::ORIGIN.as_str()).or_else(|| header_str(headers, "referer"))
    else {
        return false;
    };
    let Some(source) = authority(source) else {
        return false;
    };
    let host = header_str(headers, header::HOST.as_str());
    let public = public_url.and_then(authority);
    [host, public]
        .into_iter()
        .flatten()
        .any(|allowed| allowed.eq_ignore_ascii_case(source))
}

/// `host[:port]` of an absolute http(s) URL, or the value itself for a bare
/// `Host` header.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Works out who is calling ([`ClientInfo`]) once per request, for the
/// doors and the audit log to read.
pub async fn identify_client(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let forwarded = forwarded_hops(req.headers());
    let info = ClientInfo {
        ip: peer.map(|peer| client_ip(peer, &forwarded, &state.config.trusted_proxies)),
        user_agent: header_str(req.headers(), header::USER_AGENT.as_str())
            .map(|ua| ua.chars().take(512).collect()),
    };
    req.extensions_mut().insert(info);
    next.run(req).await
}

/// Most hops believed from `X-Forwarded-For`; a longer list is cut from the
/// left, where the hops no proxy of ours vouches for are.
const MAX_FORWARDED_HOPS: usize = 32;

/// Every `X-Forwarded-For` line, in order, as one list (RFC 9110 § 5.3: a
/// field sent on several lines means the lines joined with commas). Reading
/// only the first line would let a client's own line, sent before the
/// proxy's, pass for the proxy's.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|line| line.to_str().unwrap_or("garbage").split(','))
        .map(|hop| {
            hop.trim()
                .parse::<IpAddr>()
                .ok()
                .map(|ip| ip.to_canonical())
        })
        .collect();
    let excess = hops.len().saturating_sub(MAX_FORWARDED_HOPS);
    hops.drain(..excess);
    hops
}

/// The TCP peer, unless it is a trusted proxy: then, reading
/// `X-Forwarded-For` from the right, the first address that is not itself a
/// trusted proxy. A hop that is not an address stops the walk there: what
/// lies left of it cannot be vouched for, so the hop before it is the client.
/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, as a listener on `[::]`
/// sees IPv4 peers) count as the IPv4 address they carry.
fn client_ip(peer: IpAddr, forwarded: &[Option<IpAddr>], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    for hop in forwarded.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            None => break,
        }
    }
    client
}

/// Server functions answer every error with status 500; this gives each the
/// status its [`AppError`] deserves (400 for bad input, 401, 429, …).
pub async fn server_fn_error_status(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !response.headers().contains_key("serverfnerror")
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return error_response(&AppError::Internal);
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = StatusCode::from_u16(error.status()).unwrap_or(parts.status);
        if let Some(seconds) = error.retry_after_seconds() {
            parts
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// An [`AppError`] as a server function would encode it, so the browser
/// shows its message wherever the request came from.
pub fn error_response(error: &AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(error).unwrap_or_default();
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::HeaderName::from_static("serverfnerror"), "keysmith"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_same_origin_post_is_accepted() {
        let h = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
        ]);
        assert!(is_same_origin(&h, None));
    }

    #[test]
    fn a_post_from_another_site_is_refused() {
        let h = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!is_same_origin(&h, None));
        let h = headers(&[
            ("host", "keys.example.com"),
            ("origin", "https://keys.example.com.evil.io"),
        ]);
        assert!(!is_same_origin(&h, None));
    }

    #[test]
    fn the_referer_is_the_fallback_and_no_provenance_at_all_is_refused() {
        let h = headers(&[
            ("host", "127.0.0.1:3000"),
            ("referer", "http://127.0.0.1:3000/login?x=1"),
        ]);
        assert!(is_same_origin(&h, None));
        assert!(!is_same_origin(
            &headers(&[("host", "127.0.0.1:3000")]),
            None
        ));
        let h = headers(&[("host", "127.0.0.1:3000"), ("origin", "null")]);
        assert!(!is_same_origin(&h, None));
    }

    #[test]
    fn fetch_metadata_naming_another_site_wins_over_a_matching_origin() {
        let h = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!is_same_origin(&h, None));
    }

    #[test]
    fn behind_a_proxy_the_public_url_counts_as_our_origin() {
        let h = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://keys.example.com"),
        ]);
        assert!(is_same_origin(&h, Some("https://keys.example.com")));
    }

    fn hops(lines: &[&'static str]) -> Vec<Option<IpAddr>> {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", HeaderValue::from_static(line));
        }
        forwarded_hops(&map)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.2");
        let stranger = ip("203.0.113.9");
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let xff = hops(&["198.51.100.1, 10.0.0.7"]);
        assert_eq!(client_ip(stranger, &xff, &trusted), stranger);
        assert_eq!(client_ip(proxy, &xff, &trusted), ip("198.51.100.1"));
        assert_eq!(client_ip(proxy, &[], &trusted), proxy);
        assert_eq!(client_ip(proxy, &hops(&["garbage"]), &trusted), proxy);
        assert_eq!(client_ip(proxy, &xff, &[]), proxy);
    }

    #[test]
    fn forwarded_lines_are_read_in_order_as_one_list() {
        let proxy = ip("127.0.0.1");
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        // The client's own line first, then the line the proxy appended.
        let xff = hops(&["198.51.100.7", "203.0.113.50"]);
        assert_eq!(client_ip(proxy, &xff, &trusted), ip("203.0.113.50"));
        let xff = hops(&["198.51.100.7, 10.1.1.1", "203.0.113.50, 127.0.0.1"]);
        assert_eq!(client_ip(proxy, &xff, &trusted), ip("203.0.113.50"));
    }

    #[test]
    fn an_unparsable_hop_ends_what_is_believed() {
        let proxy = ip("127.0.0.1");
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let xff = hops(&["198.51.100.7, nonsense, 127.0.0.1"]);
        assert_eq!(client_ip(proxy, &xff, &trusted), proxy);
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_an_ipv4_trusted_proxy() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let mapped = ip("::ffff:127.0.0.1");
        let xff = hops(&["203.0.113.50"]);
        assert_eq!(client_ip(mapped, &xff, &trusted), ip("203.0.113.50"));
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.1"), &xff, &trusted),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn an_endless_forwarded_list_is_cut_to_its_last_hops() {
        let line: &'static str = Box::leak(vec!["192.0.2.1"; 1000].join(", ").into_boxed_str());
        assert_eq!(hops(&[line]).len(), MAX_FORWARDED_HOPS);
    }
}
