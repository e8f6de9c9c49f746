//! The HTTP API's request and answer shapes. `is_authorized` follows
//! cedar-agent's shape, so its clients work unchanged.

use cedar_policy::EntityUid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Decision, Field, RequestError};

/// An entity reference: `"User::\"erin\""` or `{"type": "User", "id": "erin"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityRef {
    /// Cedar's string form.
    Text(String),
    /// The JSON form.
    Object {
        /// Entity type.
        ty: String,
        /// Entity id.
        id: String,
    },
}

/// Read by its first token (a string or an object), without buffering the
/// value the way an untagged enum does: this is on every request's path.
impl<'de> Deserialize<'de> for EntityRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EntityRef, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EntityRef;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"an entity reference: "Type::\"id\"" or {"type": ..., "id": ...}"#)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EntityRef, E> {
                Ok(EntityRef::Text(v.to_string()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<EntityRef, E> {
                Ok(EntityRef::Text(v))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<EntityRef, A::Error> {
                /// The JSON form (other keys are ignored).
                #[derive(Deserialize)]
                struct Object {
                    #[serde(rename = "type")]
                    ty: String,
                    id: String,
                }
                let Object { ty, id } =
                    Object::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(EntityRef::Object { ty, id })
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl EntityRef {
    /// Parses into a uid for `field`.
    pub fn uid(&self, field: Field) -> Result<EntityUid, RequestError> {
        match self {
            EntityRef::Text(s) => crate::parse_uid(field, s),
            EntityRef::Object { ty, id } => crate::uid_of(field, ty, id),
        }
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

impl AuthorizeRequest {
    /// Whether the request carries entities of its own (then deciding it
    /// means building entity data first).
    pub fn brings_entities(&self) -> bool {
        self.entities.is_some()
            || self
                .additional_entities
                .as_ref()
                .is_some_and(|l| !l.is_empty())
    }
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

/// The JSON of one answer, in [`AuthorizeResponse`]'s shape: written
/// straight from the decision (its reasons and errors escaped by
/// serde_json) rather than copied into an [`AuthorizeResponse`] first.
pub(crate) fn answer_json(decision: &Decision, version: &str) -> serde_json::Result<Vec<u8>> {
    let version = serde_json::to_vec(version)?;
    let mut out = Vec::with_capacity(ANSWER_SIZE + version.len());
    write_answer(&mut out, decision, &version)?;
    Ok(out)
}

/// The JSON of a batch's answers, in [`BatchResponse`]'s shape, written
/// into one buffer sized for them.
pub(crate) fn batch_json(decisions: &[Decision], version: &str) -> serde_json::Result<Vec<u8>> {
    let version = serde_json::to_vec(version)?;
    let mut out = Vec::with_capacity(32 + decisions.len() * (ANSWER_SIZE + version.len()));
    out.extend_from_slice(br#"{"responses":["#);
    for (i, decision) in decisions.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_answer(&mut out, decision, &version)?;
    }
    out.extend_from_slice(br#"],"version":"#);
    out.extend_from_slice(&version);
    out.push(b'}');
    Ok(out)
}

/// Bytes of an answer besides its version: room for its keys and a reason
/// or two.
const ANSWER_SIZE: usize = 96;

/// Appends one answer; `version` is already a JSON string.
fn write_answer(out: &mut Vec<u8>, decision: &Decision, version: &[u8]) -> serde_json::Result<()> {
    out.extend_from_slice(if decision.is_allowed() {
        br#"{"decision":"Allow","diagnostics":{"reason":"#
    } else {
        br#"{"decision":"Deny","diagnostics":{"reason":"#
    });
    serde_json::to_writer(&mut *out, decision.reasons())?;
    out.extend_from_slice(br#","errors":"#);
    serde_json::to_writer(&mut *out, decision.errors())?;
    out.extend_from_slice(br#"},"version":"#);
    out.extend_from_slice(version);
    out.push(b'}');
    Ok(())
}

/// A batch answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One per request, in order.
    pub responses: Vec<AuthorizeResponse>,
    /// Snapshot version that decided all of them.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verdict;

    /// Decisions whose reasons and errors need escaping, or are empty.
    fn decisions() -> Vec<Decision> {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        vec![
            Decision::new(
                Verdict::Allow,
                owned(&["admin-all", "p \"quoted\""]),
                vec![],
            ),
            Decision::new(Verdict::Deny, vec![], vec![]),
            Decision::new(
                Verdict::Deny,
                owned(&["guest\\forbid"]),
                owned(&["line\nbreak, tab\t, é, \u{1}"]),
            ),
        ]
    }

    fn expected(d: &Decision, version: &str) -> AuthorizeResponse {
        AuthorizeResponse {
            decision: if d.is_allowed() { "Allow" } else { "Deny" }.into(),
            diagnostics: Diagnostics {
                reason: d.reasons().to_vec(),
                errors: d.errors().to_vec(),
            },
            version: version.into(),
        }
    }

    #[test]
    fn answers_written_directly_read_back_as_the_api_shapes() {
        let version = "v\"1\\";
        for d in decisions() {
            let body = answer_json(&d, version).expect("writes");
            let read: AuthorizeResponse = serde_json::from_slice(&body).expect("valid JSON");
            assert_eq!(read, expected(&d, version));
        }
        for n in [0, 1, 3] {
            let list = &decisions()[..n];
            let body = batch_json(list, version).expect("writes");
            let read: BatchResponse = serde_json::from_slice(&body).expect("valid JSON");
            assert_eq!(read.version, version);
            let want: Vec<_> = list.iter().map(|d| expected(d, version)).collect();
            assert_eq!(read.responses, want);
        }
    }
}
