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
}

impl AppError {
    /// An error with a status and a message for the client.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        use usher_channel::Error as Channel;
        match &e {
            Error::NotFound(_) => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            Error::Channel(Channel::MessageTooLarge { .. }) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            Error::Channel(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            Error::Invalid(_) => Self::new(StatusCode::BAD_REQUEST, e.to_string()),
            Error::TooLarge(_) => Self::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            Error::Conflict(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
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
        (self.status, Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}
