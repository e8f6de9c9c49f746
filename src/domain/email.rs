//! E-mail addresses and domains in one comparable form, so that no spelling
//! of a colleague's address (case, a trailing dot, white space, an
//! internationalised domain written in Unicode or in punycode) passes for a
//! stranger's (CX2, CX12).
//!
//! A domain is normalised to its ASCII form by UTS 46 (the `idna` crate):
//! lower case, Unicode labels as punycode; surrounding white space and one
//! trailing dot (the DNS root) are dropped. The local part of an address is
//! compared in lower case, as mail providers do.

/// The normal form of a domain, or `None` when it is not a usable domain
/// (empty, an empty label, characters IDNA refuses).
pub fn normalize_domain(domain: &str) -> Option<String> {
    let d = domain.trim();
    let d = d.strip_suffix('.').unwrap_or(d);
    if d.is_empty() || d.split('.').any(str::is_empty) {
        return None;
    }
    let ascii = idna::domain_to_ascii(d).ok()?;
    (!ascii.is_empty() && !ascii.split('.').any(str::is_empty)).then_some(ascii)
}

/// A normalised address: `local@domain`, both parts in normal form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// The part before the `@`, lower case.
    pub local: String,
    /// The normalised domain.
    pub domain: String,
}

impl Address {
    /// Parses and normalises an address; `None` when it is not usable.
    pub fn parse(email: &str) -> Option<Address> {
        let (local, domain) = email.trim().rsplit_once('@')?;
        if local.is_empty() || local.contains(char::is_whitespace) || local.contains('@') {
            return None;
        }
        Some(Address {
            local: local.to_lowercase(),
            domain: normalize_domain(domain)?,
        })
    }

    /// The domain and every parent domain of two labels or more:
    /// `eu.acme.com` gives `eu.acme.com` and `acme.com`. A sub-domain of the
    /// workspace's domain counts as a colleague's (CX2, see docs/rules.md).
    pub fn domains(&self) -> Vec<String> {
        let labels: Vec<&str> = self.domain.split('.').collect();
        (0..labels.len().saturating_sub(1).max(1))
            .map(|i| labels[i..].join("."))
            .collect()
    }
}

/// Parses addresses, normalising each distinct domain once (most users of a
/// workspace share one).
#[derive(Debug, Default)]
pub struct AddressParser {
    domains: std::collections::HashMap<String, Option<String>>,
}

impl AddressParser {
    /// Like [`Address::parse`], with the domain's normal form remembered.
    pub fn parse(&mut self, email: &str) -> Option<Address> {
        let (local, domain) = email.trim().rsplit_once('@')?;
        if local.is_empty() || local.contains(char::is_whitespace) || local.contains('@') {
            return None;
        }
        let domain = match self.domains.get(domain) {
            Some(d) => d.clone(),
            None => {
                let d = normalize_domain(domain);
                self.domains.insert(domain.to_string(), d.clone());
                d
            }
        }?;
        Some(Address {
            local: local.to_lowercase(),
            domain,
        })
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_domain_agree() {
        for d in [
            "acme.com",
            "ACME.com",
            " acme.com ",
            "acme.com.",
            "Acme.COM.",
        ] {
            assert_eq!(normalize_domain(d).as_deref(), Some("acme.com"), "{d:?}");
        }
        assert_eq!(
            normalize_domain("bücher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            normalize_domain("XN--BCHER-KVA.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        for bad in ["", ".", "acme..com", "acme.com..", " "] {
            assert_eq!(normalize_domain(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn addresses_and_their_domains() {
        let a = Address::parse(" Zed@EU.Acme.com. ").expect("usable");
        assert_eq!(a.to_string(), "zed@eu.acme.com");
        assert_eq!(a.domains(), vec!["eu.acme.com", "acme.com"]);
        assert_eq!(
            Address::parse("x@localhost").expect("usable").domains(),
            vec!["localhost"]
        );
        for bad in ["nobody", "@acme.com", "x@", "a b@acme.com"] {
            assert_eq!(Address::parse(bad), None, "{bad:?}");
        }
    }
}
