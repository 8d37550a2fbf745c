//! template.yaml's function policies, resolved against the local resources:
//! `Policies` documents with `!Ref`, `!GetAtt`, `!Sub`, `!Select`, `!Split`
//! and `!Join`, plus the statement SAM adds for an SQS event source.

use serde_yaml::Value;

use crate::intrinsics::Resolver;
use crate::locals::Locals;
use crate::policy::{Condition, Effect, Policy, Statement};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template.yaml does not parse: {0}")]
    Yaml(String),
    #[error("template.yaml has no function {0}")]
    NoFunction(String),
    #[error("{function}: {reason}")]
    Unsupported { function: String, reason: String },
    #[error("{function}: {reference} has no local value")]
    Unresolved { function: String, reference: String },
}

/// The parsed template, kept for resolving each app's policies.
#[derive(Debug, Clone)]
pub struct Template {
    resources: serde_yaml::Mapping,
}

impl Template {
    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let doc: Value =
            serde_yaml::from_str(yaml).map_err(|e| TemplateError::Yaml(e.to_string()))?;
        let resources = doc
            .get("Resources")
            .and_then(Value::as_mapping)
            .cloned()
            .ok_or_else(|| TemplateError::Yaml("no Resources".into()))?;
        Ok(Self { resources })
    }

    /// Logical ids of every `AWS::Serverless::Function`.
    pub fn functions(&self) -> Vec<String> {
        self.resources
            .iter()
            .filter(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function")
            })
            .filter_map(|(id, _)| id.as_str().map(str::to_owned))
            .collect()
    }

    /// The function's policy with every reference resolved.
    pub fn policy(&self, function: &str, locals: &Locals) -> Result<Policy, TemplateError> {
        let resource = self
            .resources
            .get(function)
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function"))
            .ok_or_else(|| TemplateError::NoFunction(function.to_owned()))?;
        let properties = resource.get("Properties");
        let unsupported = |reason: String| TemplateError::Unsupported {
            function: function.to_owned(),
            reason,
        };
        let mut statements = Vec::new();
        let policies = properties.and_then(|p| p.get("Policies"));
        for document in policies.and_then(Value::as_sequence).into_iter().flatten() {
            let Some(list) = document.get("Statement") else {
                return Err(unsupported(
                    "only inline policy documents are supported in Policies (no managed policies or SAM policy templates)".into(),
                ));
            };
            let resolved = Resolver { function, locals }.resolve(list)?;
            for statement in one_or_many(&resolved) {
                statements.push(statement_of(statement).map_err(unsupported)?);
            }
        }
        statements.extend(implicit_statements(properties));
        Ok(Policy { statements })
    }
}

/// What SAM attaches by itself: an SQS event source gets
/// AWSLambdaSQSQueueExecutionRole (receive, delete, attributes on any queue).
fn implicit_statements(properties: Option<&Value>) -> Vec<Statement> {
    let events = properties
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping);
    let has_sqs = events
        .into_iter()
        .flatten()
        .any(|(_, e)| e.get("Type").and_then(Value::as_str) == Some("SQS"));
    if !has_sqs {
        return Vec::new();
    }
    vec![Statement {
        effect: Effect::Allow,
        actions: [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ]
        .map(str::to_owned)
        .to_vec(),
        resources: vec!["*".into()],
        conditions: Vec::new(),
    }]
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value {
        Value::Sequence(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn strings(value: Option<&Value>, field: &str) -> Result<Vec<String>, String> {
    let value = value.ok_or_else(|| format!("a statement without {field}"))?;
    one_or_many(value)
        .into_iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{field} must be strings, got {v:?}"))
        })
        .collect()
}

fn statement_of(value: &Value) -> Result<Statement, String> {
    for unsupported in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
        if value.get(unsupported).is_some() {
            return Err(format!(
                "{unsupported} in a statement is not supported locally"
            ));
        }
    }
    let effect = match value.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => return Err(format!("Effect must be Allow or Deny, got {other:?}")),
    };
    let mut conditions = Vec::new();
    for (operator, tests) in value
        .get("Condition")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        for (key, values) in tests.as_mapping().into_iter().flatten() {
            conditions.push(Condition {
                operator: operator.as_str().unwrap_or_default().to_owned(),
                key: key.as_str().unwrap_or_default().to_owned(),
                values: strings(Some(values), "condition values")?,
            });
        }
    }
    Ok(Statement {
        effect,
        actions: strings(value.get("Action"), "Action")?,
        resources: strings(value.get("Resource"), "Resource")?,
        conditions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Access, Decision};

    const TEMPLATE: &str = r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Version: "2012-10-17"
          Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem]
              Resource: !GetAtt Table.Arn
            - Effect: Allow
              Action: dynamodb:Query
              Resource: !Sub "${Table.Arn}/index/GSI1"
            - Effect: Allow
              Action: ses:SendEmail
              Resource:
                - !Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${MailFrom}"
                - !Sub
                  - "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${Domain}"
                  - Domain: !Select [1, !Split ["@", !Ref MailFrom]]
            - Effect: Allow
              Action: sqs:SendMessage
              Resource: !Join [":", ["arn:aws:sqs", !Ref "AWS::Region", "123456789012", !GetAtt [Queue, QueueName]]]
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
  Table:
    Type: AWS::DynamoDB::Table
"#;

    fn locals() -> Locals {
        Locals::default()
            .parameter("MailFrom", "no-reply@tickets.local")
            .table("Table", "tickets")
            .queue("Queue", "http://127.0.0.1:5005/123456789012/work-abc")
    }

    fn allowed(policy: &Policy, action: &str, resource: &str) -> bool {
        policy.decide(&Access::new(action, resource)) == Decision::Allowed
    }

    #[test]
    fn references_resolve_against_the_local_resources() {
        let policy = Template::parse(TEMPLATE)
            .unwrap()
            .policy("Fn", &locals())
            .unwrap();
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/tickets";
        assert!(allowed(&policy, "dynamodb:GetItem", table));
        assert!(allowed(
            &policy,
            "dynamodb:Query",
            &format!("{table}/index/GSI1")
        ));
        assert!(!allowed(
            &policy,
            "dynamodb:Query",
            &format!("{table}/index/GSI2")
        ));
        assert!(allowed(
            &policy,
            "ses:SendEmail",
            "arn:aws:ses:us-east-1:123456789012:identity/no-reply@tickets.local"
        ));
        assert!(allowed(
            &policy,
            "ses:SendEmail",
            "arn:aws:ses:us-east-1:123456789012:identity/tickets.local"
        ));
        assert!(allowed(
            &policy,
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:123456789012:work-abc"
        ));
    }

    #[test]
    fn an_sqs_event_source_gets_what_sam_attaches_for_polling() {
        let policy = Template::parse(TEMPLATE)
            .unwrap()
            .policy("Fn", &locals())
            .unwrap();
        assert!(allowed(
            &policy,
            "sqs:ReceiveMessage",
            "arn:aws:sqs:us-east-1:123456789012:work-abc"
        ));
        assert!(!allowed(
            &policy,
            "sqs:PurgeQueue",
            "arn:aws:sqs:us-east-1:123456789012:work-abc"
        ));
    }

    #[test]
    fn a_reference_without_a_local_value_is_an_error_not_a_grant() {
        let err = Template::parse(TEMPLATE)
            .unwrap()
            .policy("Fn", &Locals::default().table("Table", "tickets"))
            .unwrap_err();
        assert!(matches!(err, TemplateError::Unresolved { .. }), "{err}");
    }

    fn project_template() -> Template {
        Template::parse(include_str!("../../../template.yaml")).unwrap()
    }

    fn project_locals() -> Locals {
        Locals::default()
            .parameter("MailFrom", "no-reply@tickets.local")
            .table("Table", "tickets")
            .queue(
                "HoldExpiryQueue",
                "http://127.0.0.1:5005/123456789012/hold-expiry-queue",
            )
            .queue(
                "RefundQueue",
                "http://127.0.0.1:5005/123456789012/refund-queue",
            )
            .queue(
                "WebhookQueue",
                "http://127.0.0.1:5005/123456789012/webhook-queue",
            )
            .bucket("ExportsBucket", "exports-bucket")
            .bucket("ImagesBucket", "images-bucket")
            .resource("PublishScheduleGroup", "publish-schedule-group", &[])
            .arn("PublishScheduleRole", "arn:aws:iam::123456789012:role/r")
            .arn(
                "SchedulerFunction",
                "arn:aws:lambda:us-east-1:123456789012:function:s",
            )
    }

    #[test]
    fn the_project_template_resolves_for_every_function() {
        let template = project_template();
        let functions = template.functions();
        assert!(functions.len() >= 8, "{functions:?}");
        for function in functions {
            let policy = template.policy(&function, &project_locals()).unwrap();
            assert!(!policy.statements.is_empty(), "{function}");
        }
    }

    #[test]
    fn the_functions_that_cancel_confirmed_bookings_may_delete_their_tickets() {
        let template = project_template();
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/tickets";
        for function in [
            "BookingsApiFunction",
            "StripeWebhookFunction",
            "EventsApiFunction",
        ] {
            let policy = template.policy(function, &project_locals()).unwrap();
            assert!(allowed(&policy, "dynamodb:DeleteItem", table), "{function}");
        }
    }
}
