//! The HTTP API's request and answer shapes. `is_authorized` follows
//! cedar-agent's shape, so its clients work unchanged.

use std::str::FromStr;

use cedar_policy::EntityUid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;

/// An entity reference: `"User::\"erin\""` or `{"type": "User", "id": "erin"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EntityRef {
    /// Cedar's string form.
    Text(String),
    /// The JSON form.
    Object {
        /// Entity type.
        #[serde(rename = "type")]
        ty: String,
        /// Entity id.
        id: String,
    },
}

impl EntityRef {
    /// Parses into a uid; `field` names the request field in errors.
    pub fn uid(&self, field: &str) -> Result<EntityUid, ApiError> {
        let text = match self {
            EntityRef::Text(s) => s.clone(),
            EntityRef::Object { ty, id } => {
                format!("{ty}::{}", serde_json::Value::String(id.clone()))
            }
        };
        EntityUid::from_str(text.trim())
            .map_err(|e| ApiError::bad_request(field, format!("not an entity like User::\"erin\" or {{\"type\":\"User\",\"id\":\"erin\"}}: {e}")))
    }
}

/// `POST /v1/is_authorized` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// Who asks.
    pub principal: EntityRef,
    /// The action.
    pub action: EntityRef,
    /// On what.
    pub resource: EntityRef,
    /// Context record.
    #[serde(default)]
    pub context: Option<Value>,
    /// Entity JSON merged over the stored entities for this request only.
    #[serde(default)]
    pub additional_entities: Option<Vec<Value>>,
    /// Entity JSON used instead of the stored entities.
    #[serde(default)]
    pub entities: Option<Vec<Value>>,
}

/// `POST /v1/batch_is_authorized` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The requests, answered in order.
    pub requests: Vec<AuthorizeRequest>,
}

/// Diagnostics of an answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Diagnostics {
    /// Determining policy ids.
    pub reason: Vec<String>,
    /// Why the request failed closed, if it did.
    pub errors: Vec<String>,
}

/// An answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthorizeResponse {
    /// `Allow` or `Deny`.
    pub decision: String,
    /// Reasons and errors.
    pub diagnostics: Diagnostics,
    /// Snapshot version that decided.
    pub version: String,
}

/// A batch answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One per request, in order.
    pub responses: Vec<AuthorizeResponse>,
    /// Snapshot version that decided all of them.
    pub version: String,
}
