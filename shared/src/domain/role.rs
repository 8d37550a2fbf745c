use serde::{Deserialize, Serialize};

/// Roles in rising order of power; a higher role may do all a lower one may.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Staff,
    Admin,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Developer => "developer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Role::User, Role::Staff, Role::Admin, Role::Developer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// The hierarchy: developer > admin > staff > user.
    pub fn includes(self, required: Role) -> bool {
        self >= required
    }

    /// The highest role this role may hand out (or take away).
    fn grant_ceiling(self) -> Option<Role> {
        match self {
            Role::Developer => Some(Role::Developer),
            Role::Admin => Some(Role::Admin),
            Role::Staff | Role::User => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoleChangeError {
    #[error("nobody may change their own role")]
    OwnRole,
    #[error("only admins and developers may change roles")]
    NotAllowed,
    #[error("{actor} may not grant the {requested} role")]
    AboveCeiling {
        actor: &'static str,
        requested: &'static str,
    },
    #[error("{actor} may not change the role of a {target}")]
    TargetAboveCeiling {
        actor: &'static str,
        target: &'static str,
    },
}

/// Who may set whose role to what: admins up to admin, developers any role,
/// nobody their own; and nobody may demote someone above their ceiling.
pub fn check_role_change(
    actor_id: &str,
    actor_role: Role,
    target_id: &str,
    target_role: Role,
    new_role: Role,
) -> Result<(), RoleChangeError> {
    if actor_id == target_id {
        return Err(RoleChangeError::OwnRole);
    }
    let ceiling = actor_role
        .grant_ceiling()
        .ok_or(RoleChangeError::NotAllowed)?;
    if new_role > ceiling {
        return Err(RoleChangeError::AboveCeiling {
            actor: actor_role.as_str(),
            requested: new_role.as_str(),
        });
    }
    if target_role > ceiling {
        return Err(RoleChangeError::TargetAboveCeiling {
            actor: actor_role.as_str(),
            target: target_role.as_str(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    #[test]
    fn higher_roles_include_lower_ones() {
        assert!(Developer.includes(Admin));
        assert!(Admin.includes(Staff));
        assert!(Staff.includes(User));
        assert!(Admin.includes(Admin));
    }

    #[test]
    fn lower_roles_do_not_include_higher_ones() {
        assert!(!User.includes(Staff));
        assert!(!Staff.includes(Admin));
        assert!(!Admin.includes(Developer));
    }

    #[test]
    fn admin_may_promote_a_user_up_to_admin() {
        assert_eq!(check_role_change("a", Admin, "b", User, Staff), Ok(()));
        assert_eq!(check_role_change("a", Admin, "b", User, Admin), Ok(()));
    }

    #[test]
    fn admin_may_not_grant_developer() {
        assert!(matches!(
            check_role_change("a", Admin, "b", User, Developer),
            Err(RoleChangeError::AboveCeiling { .. })
        ));
    }

    #[test]
    fn admin_may_not_demote_a_developer() {
        assert!(matches!(
            check_role_change("a", Admin, "b", Developer, User),
            Err(RoleChangeError::TargetAboveCeiling { .. })
        ));
    }

    #[test]
    fn developer_may_grant_any_role() {
        assert_eq!(
            check_role_change("a", Developer, "b", User, Developer),
            Ok(())
        );
        assert_eq!(
            check_role_change("a", Developer, "b", Developer, Staff),
            Ok(())
        );
    }

    #[test]
    fn nobody_changes_their_own_role() {
        assert_eq!(
            check_role_change("a", Developer, "a", Developer, User),
            Err(RoleChangeError::OwnRole)
        );
    }

    #[test]
    fn staff_may_not_change_roles() {
        assert_eq!(
            check_role_change("a", Staff, "b", User, User),
            Err(RoleChangeError::NotAllowed)
        );
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [User, Staff, Admin, Developer] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
