//! API errors: a status and a JSON body that names the field at fault.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON path of the offending field, if any.
    pub field: Option<String>,
    /// Says why.
    pub message: String,
}

impl ApiError {
    /// 400 about `field`.
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// Prefixes the field path (`requests[3].` + `principal`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = Some(match self.field {
            Some(f) => format!("{prefix}.{f}"),
            None => prefix.to_string(),
        });
        self
    }

    /// Sets the field.
    pub fn at(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    /// Any status.
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            field: None,
            message: message.into(),
        }
    }
}

impl From<&crate::RequestError> for ApiError {
    fn from(e: &crate::RequestError) -> Self {
        ApiError::bad_request(e.field().name(), e.to_string())
    }
}

impl From<&crate::LoadError> for ApiError {
    /// Entity data of a request that does not pass the checks: a 400 naming
    /// every problem (the field is set by the caller).
    fn from(e: &crate::LoadError) -> Self {
        let msgs: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
        ApiError::status(StatusCode::BAD_REQUEST, msgs.join("; "))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.field {
            Some(f) => json!({ "error": self.message, "field": f }),
            None => json!({ "error": self.message }),
        };
        (self.status, Json(body)).into_response()
    }
}
