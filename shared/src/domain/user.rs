use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Role;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    /// Empty until the user sets it.
    pub name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// A link to the user's avatar, made for each answer (valid for a while).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub avatar_url: Option<String>,
    /// The S3 key of the avatar, when the user uploaded one.
    #[serde(skip)]
    pub avatar_key: Option<String>,
}

pub const MAX_NAME_CHARS: usize = 100;

/// A display name: trimmed, 1..=100 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("must not be blank".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be at most {MAX_NAME_CHARS} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_owned())
}

impl User {
    /// A first-time sign-in: a fresh id, no name yet, and the initial role.
    pub fn first_sign_in(
        email: &str,
        bootstrap_developer_email: Option<&str>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            email: email.to_owned(),
            name: String::new(),
            role: initial_role(email, bootstrap_developer_email),
            created_at: now,
            avatar_url: None,
            avatar_key: None,
        }
    }
}

/// New accounts are plain users, except the configured bootstrap developer.
fn initial_role(email: &str, bootstrap_developer_email: Option<&str>) -> Role {
    if bootstrap_developer_email == Some(email) {
        Role::Developer
    } else {
        Role::User
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(parse_name("  Ada Lovelace ").unwrap(), "Ada Lovelace");
    }

    #[test]
    fn blank_overlong_or_control_names_are_refused() {
        assert!(parse_name("   ").is_err());
        assert!(parse_name(&"x".repeat(101)).is_err());
        assert!(parse_name("Ada\u{0}").is_err());
    }

    #[test]
    fn the_bootstrap_email_starts_as_developer() {
        assert_eq!(initial_role("dev@x.io", Some("dev@x.io")), Role::Developer);
        assert_eq!(initial_role("ada@x.io", Some("dev@x.io")), Role::User);
        assert_eq!(initial_role("ada@x.io", None), Role::User);
    }
}
