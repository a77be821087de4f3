//! One error type for every handler: a status and a message safe to show.
//! Internal failures are logged and answered with a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::Error;

/// An HTTP error response: `{"error": "..."}`.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    message: String,
    /// Seconds for `Retry-After` (429).
    retry_after: Option<u64>,
}

impl AppError {
    /// An error with a status and a message for the client.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None }
    }

    /// A 429 asking the client to wait `wait`.
    pub fn too_many(message: impl Into<String>, wait: std::time::Duration) -> Self {
        let retry_after = Some(crate::limit::retry_after_secs(wait));
        Self { status: StatusCode::TOO_MANY_REQUESTS, message: message.into(), retry_after }
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        match &e {
            Error::NotFound(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            Error::Channel(c) => {
                let status = StatusCode::from_u16(c.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
                let retry_after = c.retry_after().map(crate::limit::retry_after_secs);
                Self { status, message: e.to_string(), retry_after }
            }
            Error::Invalid(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            Error::TooLarge(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            Error::Conflict(_) | Error::Duplicate(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            Error::RateLimited(wait) => Self::too_many(e.to_string(), *wait),
            Error::ShuttingDown => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            _ => {
                tracing::error!(error = %e, "request failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(serde_json::json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}
