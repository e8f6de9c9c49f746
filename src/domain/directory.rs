//! Who has which e-mail address: built once from the entity data, so that an
//! `inviteExternal` without an `invitee` finds the person behind the address
//! in constant time (CX12).

use std::collections::HashMap;

use super::context::Directory;

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
}

impl Directory for Addresses {
    fn user_by_address(&self, address: &str) -> Option<&str> {
        self.by_address.get(address).map(String::as_str)
    }

    fn address_of(&self, user_id: &str) -> Option<&str> {
        self.by_user.get(user_id).map(String::as_str)
    }
}
