//! Where this server's REST API is reached.

/// The path every REST endpoint lives under.
pub const API_BASE_PATH: &str = "/api/v2";

/// The URL the operator says the server is reached at
/// (`KEYSMITH_PUBLIC_URL`), if any; pages fall back to the request's host.
#[derive(Clone, Debug, Default)]
pub struct PublicUrl(pub Option<String>);

impl PublicUrl {
    /// Where links to this server start: the operator's public URL, else
    /// the request's `Host` when it looks like a host name (`localhost`
    /// otherwise), over plain HTTP.
    pub fn origin(&self, host: Option<&str>) -> String {
        if let Some(url) = &self.0 {
            return url.trim_end_matches('/').to_owned();
        }
        let host = host
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("localhost");
        format!("http://{host}")
    }

    /// [`origin`](Self::origin) for a request with these headers.
    #[cfg(feature = "ssr")]
    pub fn origin_for(&self, headers: &axum::http::HeaderMap) -> String {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok());
        self.origin(host)
    }
}

/// Where links handed out by the server function being served start.
#[cfg(feature = "ssr")]
pub async fn origin_of_this_request() -> Result<String, crate::error::AppError> {
    use leptos::server_fn::error::FromServerFnError;
    let headers: axum::http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(crate::error::AppError::from_server_fn_error)?;
    Ok(super::context::provided::<PublicUrl>()?.origin_for(&headers))
}

/// The origin of the page that called the server function being served,
/// as its browser states it: the operator's public URL, else the request's
/// `Origin` (which the cross-site check already matched to its `Host`), so
/// a page served over https behind a proxy is seen as https. Passkeys are
/// bound to it.
#[cfg(feature = "ssr")]
pub async fn page_origin_of_this_request() -> Result<String, crate::error::AppError> {
    use leptos::server_fn::error::FromServerFnError;
    let public = super::context::provided::<PublicUrl>()?;
    if public.0.is_some() {
        return Ok(public.origin(None));
    }
    let headers: axum::http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(crate::error::AppError::from_server_fn_error)?;
    let stated = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .filter(|origin| *origin != "null");
    Ok(match stated {
        Some(origin) => origin.to_owned(),
        None => public.origin_for(&headers),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_start_at_the_public_url_else_a_plausible_host() {
        let public = PublicUrl(Some("https://keys.example.com/".into()));
        assert_eq!(public.origin(Some("evil")), "https://keys.example.com");
        let none = PublicUrl(None);
        assert_eq!(none.origin(Some("127.0.0.1:3000")), "http://127.0.0.1:3000");
        assert_eq!(none.origin(Some("a/b@evil")), "http://localhost");
        assert_eq!(none.origin(None), "http://localhost");
    }
}
