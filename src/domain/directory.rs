//! Who has which e-mail address: built once from the entity data, so that an
//! `inviteExternal` without an `invitee` finds the person behind the address
//! in constant time (CX12).

use std::collections::HashMap;

use serde_json::Value;

use super::context::Directory;
use super::email::AddressParser;
use super::integrity::json::uid_of;
use super::integrity::Located;
use super::types;

/// Normalised addresses of the users, both ways.
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    by_address: HashMap<String, String>,
    by_user: HashMap<String, String>,
}

impl Addresses {
    /// From (user id, normalised address) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Addresses {
        let mut out = Addresses::default();
        for (id, a) in pairs {
            out.by_address.insert(a.clone(), id.clone());
            out.by_user.insert(id, a);
        }
        out
    }

    /// The addresses of the users among `entities` (users without a usable
    /// address are left out; the integrity checks report them).
    pub fn of(entities: &[Located]) -> Addresses {
        let mut out = Addresses::default();
        let mut parser = AddressParser::default();
        for e in entities {
            let Some((ty, id)) = uid_of(&e.value) else {
                continue;
            };
            if ty != types::USER {
                continue;
            }
            let address = e
                .value
                .get("attrs")
                .and_then(|a| a.get("email"))
                .and_then(Value::as_str)
                .and_then(|e| parser.parse(e));
            if let Some(a) = address {
                out.by_address.insert(a.to_string(), id.clone());
                out.by_user.insert(id, a.to_string());
            }
        }
        out
    }
}

impl Directory for Addresses {
    fn user_by_address(&self, address: &str) -> Option<&str> {
        self.by_address.get(address).map(String::as_str)
    }

    fn address_of(&self, user_id: &str) -> Option<&str> {
        self.by_user.get(user_id).map(String::as_str)
    }
}
