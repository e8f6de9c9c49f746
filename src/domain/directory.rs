//! Who has which e-mail address: built once from the entity data, so that an
//! `inviteExternal` without an `invitee` finds the person behind the address
//! in constant time (CX12).

use super::context::Directory;

/// Normalised addresses of the users, both ways (a change to a few users
/// shares the rest).
#[derive(Debug, Clone, Default)]
pub struct Addresses {
    by_address: crate::layered::Layered<String, String>,
    by_user: crate::layered::Layered<String, String>,
}

impl Addresses {
    /// From (user id, normalised address) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Addresses {
        let mut by_address =
            std::collections::HashMap::<String, String, foldhash::fast::RandomState>::default();
        let mut by_user =
            std::collections::HashMap::<String, String, foldhash::fast::RandomState>::default();
        for (id, a) in pairs {
            by_address.insert(a.clone(), id.clone());
            by_user.insert(id, a);
        }
        Addresses {
            by_address: by_address.into(),
            by_user: by_user.into(),
        }
    }

    /// These addresses without those of `removed` users, with `added`'s.
    pub fn changed<'a>(
        &self,
        removed: impl IntoIterator<Item = &'a str>,
        added: &Addresses,
    ) -> Addresses {
        let mut out = self.clone();
        for user in removed {
            if let Some(a) = out.by_user.get(user).cloned() {
                out.by_user.remove(&user.to_string());
                out.by_address.remove(&a);
            }
        }
        for (user, a) in added.by_user.iter() {
            out.by_address.insert(a.clone(), user.clone());
            out.by_user.insert(user.clone(), a.clone());
        }
        out.by_address.compact_if_large();
        out.by_user.compact_if_large();
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
