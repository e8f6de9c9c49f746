//! The question and the answer: [`Query`] in, [`Decision`] out. Entity
//! references are parsed here, in one place, for every caller (HTTP, CLI,
//! scenario files).

use std::fmt;
use std::str::FromStr;

use cedar_policy::EntityUid;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::error::{Field, RequestError};

/// Parses an entity reference such as `User::"erin"` for `field`.
pub fn parse_uid(field: Field, text: &str) -> Result<EntityUid, RequestError> {
    let text = text.trim();
    if let Some(uid) = plain_uid(text) {
        return Ok(uid);
    }
    EntityUid::from_str(text).map_err(|e| RequestError::BadUid {
        field,
        text: text.to_string(),
        reason: e.to_string(),
    })
}

/// `Type::"id"` (the type a plain name or path, the id without a quote or
/// a backslash) read without Cedar's parser, which costs about a
/// microsecond a reference on the request path; the type name is still
/// Cedar's to check (and cached per thread). `None` for anything else, which
/// Cedar's parser then reads (and refuses with its message).
fn plain_uid(text: &str) -> Option<EntityUid> {
    // The type: the leading run of name characters and `::`, which must
    // end in `::` right before the opening quote (the first `::"`).
    let bytes = text.as_bytes();
    let open = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':'))?;
    if bytes[open] != b'"' || open < 3 || &bytes[open - 2..open] != b"::" {
        return None;
    }
    let ty = &text[..open - 2];
    let id = text[open + 1..].strip_suffix('"')?;
    // The id: no quote, backslash or control character (one pass over the
    // bytes; a non-ASCII id is checked character by character).
    let mut ascii = true;
    for &b in id.as_bytes() {
        if b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f {
            return None;
        }
        ascii &= b.is_ascii();
    }
    if !ascii && id.chars().any(char::is_control) {
        return None;
    }
    Some(EntityUid::from_type_name_and_id(
        type_name(ty)?,
        cedar_policy::EntityId::new(id),
    ))
}

/// A type name, parsed by Cedar once per thread.
fn type_name(text: &str) -> Option<cedar_policy::EntityTypeName> {
    use std::cell::RefCell;
    thread_local! {
        static NAMES: RefCell<crate::FastMap<String, Option<cedar_policy::EntityTypeName>>> =
            RefCell::new(Default::default());
    }
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(known) = names.get(text) {
            return known.clone();
        }
        // Without the source location Cedar's parser attaches (a shared
        // pointer every copy of the name would count): a type name read
        // from a request points at no policy text.
        let parsed = cedar_policy::EntityTypeName::from_str(text).ok().map(|t| {
            let core: &cedar_policy_core::ast::EntityType = t.as_ref();
            cedar_policy::EntityTypeName::from(core.with_loc(None))
        });
        // Bounded: type names come from requests.
        if names.len() < 256 {
            names.insert(text.to_string(), parsed.clone());
        }
        parsed
    })
}

/// Parses an action: `Action::"viewProject"` or the bare name `viewProject`.
pub fn parse_action(text: &str) -> Result<EntityUid, RequestError> {
    let t = text.trim();
    if t.contains("::") {
        parse_uid(Field::Action, t)
    } else {
        parse_uid(Field::Action, &format!("Action::{t:?}")).map_err(|e| match e {
            RequestError::BadUid { field, reason, .. } => RequestError::BadUid {
                field,
                text: text.to_string(),
                reason,
            },
            other => other,
        })
    }
}

/// An entity reference from its type and id (the JSON form `{"type", "id"}`).
pub fn uid_of(field: Field, type_name: &str, id: &str) -> Result<EntityUid, RequestError> {
    parse_uid(
        field,
        &format!("{type_name}::{}", Value::String(id.to_string())),
    )
}

/// One authorization question: may `principal` do `action` on `resource`,
/// given `context`?
///
/// ```
/// use teamgate::Query;
/// let q = Query::parse(r#"User::"erin""#, "editProjectDetails", r#"Project::"website""#)?;
/// assert_eq!(q.action().to_string(), r#"Action::"editProjectDetails""#);
/// # Ok::<(), teamgate::RequestError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    principal: EntityUid,
    action: EntityUid,
    resource: EntityUid,
    context: Value,
}

impl Query {
    /// A query with an empty context.
    pub fn new(principal: EntityUid, action: EntityUid, resource: EntityUid) -> Self {
        Query {
            principal,
            action,
            resource,
            context: Value::Null,
        }
    }

    /// Parses `User::"erin"`, `editProjectDetails` (or `Action::"..."`) and
    /// `Project::"website"`.
    pub fn parse(principal: &str, action: &str, resource: &str) -> Result<Self, RequestError> {
        Ok(Query::new(
            parse_uid(Field::Principal, principal)?,
            parse_action(action)?,
            parse_uid(Field::Resource, resource)?,
        ))
    }

    /// The same query with this context record (Cedar JSON; `null` means `{}`).
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = context;
        self
    }

    /// Who asks.
    pub fn principal(&self) -> &EntityUid {
        &self.principal
    }

    /// What they want to do.
    pub fn action(&self) -> &EntityUid {
        &self.action
    }

    /// On what.
    pub fn resource(&self) -> &EntityUid {
        &self.resource
    }

    /// The context as given.
    pub fn context(&self) -> &Value {
        &self.context
    }

    /// The action's name, e.g. `viewProject`.
    pub fn action_name(&self) -> &str {
        self.action.id().unescaped()
    }
}

impl fmt::Display for Query {
    /// `User::"erin" editProjectDetails Project::"website"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.principal,
            self.action_name(),
            self.resource
        )
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The request may go ahead.
    Allow,
    /// It may not.
    Deny,
}

impl Verdict {
    /// `"allow"` or `"deny"`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The answer to a [`Query`]: allowed only when Cedar allowed and nothing
/// went wrong (rule P5: any error is a deny that says why).
///
/// Serialised as `{"allowed": bool, "reasons": [...], "errors": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    verdict: Verdict,
    reasons: Vec<String>,
    errors: Vec<String>,
}

impl Decision {
    /// A decision; reasons and errors are sorted.
    pub fn new(verdict: Verdict, mut reasons: Vec<String>, mut errors: Vec<String>) -> Self {
        reasons.sort();
        errors.sort();
        Decision {
            verdict,
            reasons,
            errors,
        }
    }

    /// A deny because the request could not be evaluated.
    pub fn deny_because(error: impl fmt::Display) -> Self {
        Decision::new(Verdict::Deny, Vec::new(), vec![error.to_string()])
    }

    /// Allow or deny.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// True for an allow.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// Determining policy ids, sorted: the satisfied permits of an allow, the
    /// satisfied forbids of a deny (empty when no permit applied).
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }

    /// Why the request could not be evaluated cleanly, if it could not.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// The errors when there are any, else the reasons: what a one-line
    /// report shows for this decision.
    pub fn causes(&self) -> &[String] {
        if self.errors.is_empty() {
            &self.reasons
        } else {
            &self.errors
        }
    }

    /// [`Decision::causes`], taken out of the decision.
    pub fn into_causes(self) -> Vec<String> {
        if self.errors.is_empty() {
            self.reasons
        } else {
            self.errors
        }
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Decision", 3)?;
        st.serialize_field("allowed", &self.is_allowed())?;
        st.serialize_field("reasons", &self.reasons)?;
        st.serialize_field("errors", &self.errors)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast reading of `Type::"id"` gives what Cedar's parser gives,
    /// and leaves to it everything else.
    #[test]
    fn plain_references_read_as_cedar_reads_them() {
        for text in [
            r#"User::"erin""#,
            r#"User::"""#,
            r#"User::"a b c""#,
            r#"User::"ünïcode ✓""#,
            r#"User::"a::b""#,
            r#"User::"*""#,
            r#"Ns::User::"x""#,
            r#"A::B::C::"x""#,
            r#"_T1::"x""#,
        ] {
            let fast = plain_uid(text).expect(text);
            let cedar = EntityUid::from_str(text).expect(text);
            assert_eq!(fast, cedar, "{text}");
            assert_eq!(fast.to_string(), cedar.to_string(), "{text}");
        }
        for text in [
            r#"User::"a\"b""#,
            r#"User::"a\nb""#,
            "User::\"a\u{1}b\"",
            "User::\"a\u{7f}b\"",
            "User::\"\u{e9}a\u{85}b\"",
            r#"User:::"x""#,
            r#"User::"x"#,
            r#"""#,
            "",
            r#"User :: "x""#,
            r#"1User::"x""#,
            r#"if::"x""#,
            r#"User::"x"y"#,
            r#"User:"x""#,
            r#"::"x""#,
            r#"User::x"#,
        ] {
            assert!(plain_uid(text).is_none(), "{text}");
        }
        // What falls through is still read, or refused, by Cedar.
        assert!(parse_uid(Field::Principal, r#"User::"a\"b""#).is_ok());
        assert!(parse_uid(Field::Principal, r#"if::"x""#).is_err());
        assert!(parse_uid(Field::Principal, r#"1User::"x""#).is_err());
    }
}
