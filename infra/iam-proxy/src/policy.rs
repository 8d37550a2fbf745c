//! Identity-based policy evaluation, as IAM does it for one principal with
//! no resource policy, permissions boundary or SCP: an explicit Deny wins,
//! else an Allow must match, else the request is implicitly denied.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One condition test (`"StringEquals": {"iam:PassedToService": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    pub conditions: Vec<Condition>,
}

/// A function's resolved policy: every statement of its `Policies`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub statements: Vec<Statement>,
}

/// One permission a request needs: `action` on `resource`. A few actions
/// may be authorised on any one of several resources (SES authorises a send
/// on the address identity or on its domain): `alternatives` lists those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub action: String,
    pub resource: String,
    pub alternatives: Vec<String>,
    /// Condition keys the request sets (`iam:PassedToService`).
    pub context: BTreeMap<String, String>,
}

impl Access {
    pub fn new(action: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            resource: resource.into(),
            alternatives: Vec::new(),
            context: BTreeMap::new(),
        }
    }

    pub fn or_on(mut self, resource: impl Into<String>) -> Self {
        self.alternatives.push(resource.into());
        self
    }

    pub fn with_context(mut self, key: &str, value: &str) -> Self {
        self.context.insert(key.to_owned(), value.to_owned());
        self
    }

    fn resources(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.resource.as_str()).chain(self.alternatives.iter().map(String::as_str))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No Allow statement matched (the common case).
    ImplicitDeny,
    ExplicitDeny,
}

impl Policy {
    pub fn decide(&self, access: &Access) -> Decision {
        let matching = |effect: Effect| {
            self.statements
                .iter()
                .filter(|s| s.effect == effect)
                .any(|s| s.matches(access))
        };
        if matching(Effect::Deny) {
            Decision::ExplicitDeny
        } else if matching(Effect::Allow) {
            Decision::Allowed
        } else {
            Decision::ImplicitDeny
        }
    }
}

impl Statement {
    fn matches(&self, access: &Access) -> bool {
        self.actions.iter().any(|pattern| {
            wildcard_match(
                &pattern.to_ascii_lowercase(),
                &access.action.to_ascii_lowercase(),
            )
        }) && access
            .resources()
            .any(|resource| self.resources.iter().any(|p| wildcard_match(p, resource)))
            && self.conditions.iter().all(|c| c.holds(&access.context))
    }
}

impl Condition {
    /// Only the keys the proxy knows are tested; a condition on any other
    /// key (or with another operator) is taken as met (docs/adr/0002).
    fn holds(&self, context: &BTreeMap<String, String>) -> bool {
        let Some(value) = context.get(&self.key) else {
            return true;
        };
        match self.operator.as_str() {
            "StringEquals" => self.values.iter().any(|v| v == value),
            "StringLike" => self.values.iter().any(|p| wildcard_match(p, value)),
            _ => true,
        }
    }
}

/// IAM's wildcards: `*` any run of characters (none included), `?` one.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            effect: Effect::Allow,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            conditions: Vec::new(),
        }
    }

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/tickets";

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match(
            "arn:*:table/t",
            "arn:aws:dynamodb:x:table/t"
        ));
        assert!(wildcard_match("publish-*", "publish-"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(!wildcard_match("table/t", "table/t/index/GSI1"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*b*b", "abab"));
        assert!(!wildcard_match("*b*b", "aba"));
    }

    #[test]
    fn actions_match_case_insensitively_and_resources_exactly() {
        let policy = Policy {
            statements: vec![allow(&["dynamodb:getitem", "sqs:*"], &[TABLE])],
        };
        assert_eq!(
            policy.decide(&Access::new("dynamodb:GetItem", TABLE)),
            Decision::Allowed
        );
        assert_eq!(
            policy.decide(&Access::new("sqs:SendMessage", TABLE)),
            Decision::Allowed
        );
        assert_eq!(
            policy.decide(&Access::new("dynamodb:GetItem", TABLE.to_uppercase())),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn the_table_grant_does_not_cover_its_indexes() {
        let policy = Policy {
            statements: vec![allow(&["dynamodb:Query"], &[TABLE])],
        };
        let on_index = Access::new("dynamodb:Query", format!("{TABLE}/index/GSI1"));
        assert_eq!(policy.decide(&on_index), Decision::ImplicitDeny);
    }

    #[test]
    fn an_explicit_deny_beats_an_allow() {
        let mut deny = allow(&["dynamodb:*"], &["*"]);
        deny.effect = Effect::Deny;
        let policy = Policy {
            statements: vec![allow(&["dynamodb:GetItem"], &[TABLE]), deny],
        };
        assert_eq!(
            policy.decide(&Access::new("dynamodb:GetItem", TABLE)),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn any_alternative_resource_may_authorise() {
        let policy = Policy {
            statements: vec![allow(&["ses:SendEmail"], &["identity/example.com"])],
        };
        let send =
            Access::new("ses:SendEmail", "identity/a@example.com").or_on("identity/example.com");
        assert_eq!(policy.decide(&send), Decision::Allowed);
    }

    #[test]
    fn a_known_condition_key_is_tested() {
        let mut pass = allow(&["iam:PassRole"], &["arn:aws:iam::1:role/r"]);
        pass.conditions.push(Condition {
            operator: "StringEquals".into(),
            key: "iam:PassedToService".into(),
            values: vec!["scheduler.amazonaws.com".into()],
        });
        let policy = Policy {
            statements: vec![pass],
        };
        let to = |service: &str| {
            Access::new("iam:PassRole", "arn:aws:iam::1:role/r")
                .with_context("iam:PassedToService", service)
        };
        assert_eq!(
            policy.decide(&to("scheduler.amazonaws.com")),
            Decision::Allowed
        );
        assert_eq!(
            policy.decide(&to("lambda.amazonaws.com")),
            Decision::ImplicitDeny
        );
    }
}
