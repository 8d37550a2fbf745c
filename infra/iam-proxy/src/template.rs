//! template.yaml's function policies, resolved against the local resources:
//! `Policies` documents with `!Ref`, `!GetAtt`, `!Sub`, `!Select`, `!Split`
//! and `!Join`, plus the statement SAM adds for an SQS event source.

use std::collections::{BTreeMap, HashMap};

use serde_yaml::Value;

use crate::policy::{Condition, Effect, Policy, Statement};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

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

/// The local value of a template resource: what `!Ref` gives and its
/// `!GetAtt` attributes.
#[derive(Debug, Clone, Default)]
pub struct LocalResource {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

/// What the template's references mean on the local stack.
#[derive(Debug, Clone, Default)]
pub struct Locals {
    parameters: HashMap<String, String>,
    resources: HashMap<String, LocalResource>,
}

impl Locals {
    pub fn parameter(mut self, name: &str, value: &str) -> Self {
        self.parameters.insert(name.to_owned(), value.to_owned());
        self
    }

    pub fn resource(
        mut self,
        logical_id: &str,
        reference: &str,
        attributes: &[(&str, &str)],
    ) -> Self {
        self.resources.insert(
            logical_id.to_owned(),
            LocalResource {
                reference: reference.to_owned(),
                attributes: attributes
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            },
        );
        self
    }

    /// A DynamoDB table by its name.
    pub fn table(self, logical_id: &str, name: &str) -> Self {
        let arn = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}");
        self.resource(logical_id, name, &[("Arn", &arn)])
    }

    /// An SQS queue by its URL (`Ref` is the URL, as in CloudFormation).
    pub fn queue(self, logical_id: &str, url: &str) -> Self {
        let name = url.rsplit('/').next().unwrap_or(url);
        let arn = queue_arn(url);
        self.resource(
            logical_id,
            url,
            &[("Arn", &arn), ("QueueName", name), ("QueueUrl", url)],
        )
    }

    /// A resource known by its ARN only (a role, a function).
    pub fn arn(self, logical_id: &str, arn: &str) -> Self {
        self.resource(logical_id, arn, &[("Arn", arn)])
    }

    fn lookup(&self, name: &str, attribute: Option<&str>) -> Option<String> {
        let pseudo = match name {
            "AWS::Region" => Some(REGION),
            "AWS::AccountId" => Some(ACCOUNT),
            "AWS::Partition" => Some("aws"),
            "AWS::URLSuffix" => Some("amazonaws.com"),
            _ => None,
        };
        if let (Some(value), None) = (pseudo, attribute) {
            return Some(value.to_owned());
        }
        if let (Some(value), None) = (self.parameters.get(name), attribute) {
            return Some(value.clone());
        }
        let resource = self.resources.get(name)?;
        match attribute {
            None => Some(resource.reference.clone()),
            Some(attribute) => resource.attributes.get(attribute).cloned(),
        }
    }
}

/// `http://host/123456789012/name` → `arn:aws:sqs:us-east-1:123456789012:name`.
pub fn queue_arn(url: &str) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().filter(|a| !a.is_empty()).unwrap_or(ACCOUNT);
    format!("arn:aws:sqs:{REGION}:{account}:{name}")
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

/// Resolves CloudFormation intrinsics (tagged YAML values) to plain values.
struct Resolver<'a> {
    function: &'a str,
    locals: &'a Locals,
}

impl Resolver<'_> {
    fn unresolved(&self, reference: impl Into<String>) -> TemplateError {
        TemplateError::Unresolved {
            function: self.function.to_owned(),
            reference: reference.into(),
        }
    }

    fn unsupported(&self, reason: String) -> TemplateError {
        TemplateError::Unsupported {
            function: self.function.to_owned(),
            reason,
        }
    }

    fn lookup(&self, name: &str, attribute: Option<&str>) -> Result<String, TemplateError> {
        self.locals.lookup(name, attribute).ok_or_else(|| {
            self.unresolved(match attribute {
                Some(a) => format!("{name}.{a}"),
                None => name.to_owned(),
            })
        })
    }

    fn resolve(&self, value: &Value) -> Result<Value, TemplateError> {
        match value {
            Value::Tagged(tagged) => self.intrinsic(&tagged.tag.to_string(), &tagged.value),
            Value::Sequence(items) => items
                .iter()
                .map(|v| self.resolve(v))
                .collect::<Result<_, _>>()
                .map(Value::Sequence),
            Value::Mapping(map) => {
                if map.len() == 1
                    && let Some((Value::String(key), arg)) = map.iter().next()
                    && (key == "Ref" || key.starts_with("Fn::"))
                {
                    let tag = format!("!{}", key.trim_start_matches("Fn::"));
                    return self.intrinsic(&tag, arg);
                }
                let mut out = serde_yaml::Mapping::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.resolve(v)?);
                }
                Ok(Value::Mapping(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn string(&self, value: &Value) -> Result<String, TemplateError> {
        match self.resolve(value)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(self.unsupported(format!("expected a string, got {other:?}"))),
        }
    }

    fn list(&self, value: &Value) -> Result<Vec<Value>, TemplateError> {
        match self.resolve(value)? {
            Value::Sequence(items) => Ok(items),
            other => Err(self.unsupported(format!("expected a list, got {other:?}"))),
        }
    }

    fn intrinsic(&self, tag: &str, arg: &Value) -> Result<Value, TemplateError> {
        let args = |n: usize| -> Result<Vec<Value>, TemplateError> {
            match arg {
                Value::Sequence(items) if items.len() == n => Ok(items.clone()),
                _ => Err(self.unsupported(format!("{tag} needs {n} arguments"))),
            }
        };
        let resolved = match tag {
            "!Ref" => self.lookup(&self.string(arg)?, None)?,
            "!GetAtt" => {
                let (name, attribute) = match arg {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(n, a)| (n.to_owned(), a.to_owned()))
                        .ok_or_else(|| self.unsupported(format!("!GetAtt {s}")))?,
                    _ => {
                        let parts = args(2)?;
                        (self.string(&parts[0])?, self.string(&parts[1])?)
                    }
                };
                self.lookup(&name, Some(&attribute))?
            }
            "!Sub" => {
                let (text, variables) = match arg {
                    Value::String(s) => (s.clone(), BTreeMap::new()),
                    _ => {
                        let parts = args(2)?;
                        let mut variables = BTreeMap::new();
                        for (k, v) in parts[1].as_mapping().into_iter().flatten() {
                            variables
                                .insert(k.as_str().unwrap_or_default().to_owned(), self.string(v)?);
                        }
                        (self.string(&parts[0])?, variables)
                    }
                };
                self.substitute(&text, &variables)?
            }
            "!Select" => {
                let parts = args(2)?;
                let index: usize = self
                    .string(&parts[0])?
                    .parse()
                    .map_err(|_| self.unsupported("!Select needs a number".into()))?;
                let items = self.list(&parts[1])?;
                let item = items
                    .get(index)
                    .ok_or_else(|| self.unsupported(format!("!Select {index} is out of range")))?;
                return Ok(item.clone());
            }
            "!Split" => {
                let parts = args(2)?;
                let delimiter = self.string(&parts[0])?;
                let text = self.string(&parts[1])?;
                return Ok(Value::Sequence(
                    text.split(delimiter.as_str())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                ));
            }
            "!Join" => {
                let parts = args(2)?;
                let delimiter = self.string(&parts[0])?;
                let items = self.list(&parts[1])?;
                let texts = items
                    .iter()
                    .map(|v| self.string(v))
                    .collect::<Result<Vec<_>, _>>()?;
                texts.join(&delimiter)
            }
            other => {
                return Err(self.unsupported(format!("intrinsic {other} is not supported locally")));
            }
        };
        Ok(Value::String(resolved))
    }

    /// `${Name}`, `${Resource.Attribute}`, `${!Literal}`.
    fn substitute(
        &self,
        text: &str,
        variables: &BTreeMap<String, String>,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| self.unsupported(format!("unclosed ${{ in {text}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(value);
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.lookup(resource, Some(attribute))?);
            } else {
                out.push_str(&self.lookup(name, None)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
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

    #[test]
    fn queue_arns_come_from_the_url() {
        assert_eq!(
            queue_arn("http://127.0.0.1:5005/123456789012/hold-expiry-x"),
            "arn:aws:sqs:us-east-1:123456789012:hold-expiry-x"
        );
    }
}
