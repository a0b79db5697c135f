//! JSON in and out of the REST API, in its envelope and with its errors.

use super::problem::ApiError;
use crate::error::AppError;
use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::StatusCode,
};
use serde::{de::DeserializeOwned, Serialize};

/// A JSON request body; malformed, mistyped, oversized or non-JSON bodies
/// become problems, never a bare 4xx.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError(rejection_error(&rejection))),
        }
    }
}

/// A JSON body, read but not parsed: for a handler that parses it
/// borrowing its strings (the verify call, on every request a platform
/// serves). Refused as [`Body`] refuses: not JSON, or too large.
pub struct JsonBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_media_type);
        if !is_json {
            return Err(ApiError(AppError::UnsupportedMediaType));
        }
        axum::body::Bytes::from_request(req, state)
            .await
            .map(JsonBytes)
            .map_err(|rejection| match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError(AppError::PayloadTooLarge),
                _ => ApiError(AppError::BadRequest(rejection.body_text())),
            })
    }
}

/// `application/json` or `application/…+json`, parameters aside.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl JsonBytes {
    /// The body as `T`, whose strings may borrow from it.
    pub fn parse<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, AppError> {
        serde_json::from_slice(&self.0).map_err(|error| {
            AppError::BadRequest(format!(
                "Failed to deserialize the JSON body into the target type: {error}"
            ))
        })
    }
}

fn rejection_error(rejection: &JsonRejection) -> AppError {
    match rejection.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType,
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge,
        _ => AppError::BadRequest(rejection.body_text()),
    }
}

/// `{"data": …}`: one resource.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// `{"data": […], "next_cursor": …}`: one page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Query parameters; malformed ones become a problem naming them.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Params(value))
            .map_err(|rejection| ApiError(AppError::BadRequest(rejection.body_text())))
    }
}
