use std::fmt;

/// A syntactically plausible email address, trimmed and lowercased so that
/// one mailbox maps to one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

const NOT_ASCII: &str = "must be ASCII; write an internationalized domain in its xn-- form";

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("is required");
        }
        if email.len() > 254 {
            return Err("is longer than 254 characters");
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters");
        }
        if !email.is_ascii() {
            // SES sends to ASCII addresses only (no SMTPUTF8): a non-ASCII
            // local part cannot be delivered, and an internationalized
            // domain only in its ASCII (`xn--`) form.
            return Err(NOT_ASCII);
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err("must contain @");
        };
        if !(is_local_part(local) && is_domain(domain)) {
            return Err("is not a valid email address");
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A dot-atom local part (RFC 5322): letters, digits and
/// ``!#$%&'*+/=?^_`{|}~-``, in dot-separated non-empty runs.
fn is_local_part(local: &str) -> bool {
    (1..=64).contains(&local.len())
        && local.split('.').all(|run| {
            !run.is_empty()
                && run
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
        })
}

/// A host name of at least two labels, each 1..=63 of a-z 0-9 and inner `-`.
fn is_domain(domain: &str) -> bool {
    domain.contains('.')
        && domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn implausible_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@@example.com",
            "ada@exa_mple.com",
            "ada@.com",
            "ada@example.com.",
            ".ada@example.com",
            "a..da@example.com",
            "ada@-example.com",
            "ada\"x@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn addresses_ses_cannot_take_are_refused_at_parse_time() {
        for bad in [
            "jos\u{e9}@example.com",
            "ada@b\u{fc}cher.de",
            "\u{30c6}@example.jp",
        ] {
            assert_eq!(Email::parse(bad), Err(NOT_ASCII), "{bad:?}");
        }
    }

    #[test]
    fn punycoded_domains_and_dot_atom_local_parts_are_accepted() {
        for good in [
            "ada@xn--bcher-kva.de",
            "ada.lovelace+tickets@example.co.uk",
            "o'brien@example.ie",
            "x_y-z@sub-domain.example.com",
        ] {
            assert_eq!(Email::parse(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn overlong_emails_are_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
