//! What the template's references mean on the local stack: parameters,
//! and each resource's `!Ref` value and `!GetAtt` attributes.

use std::collections::HashMap;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

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

    /// A DynamoDB table by its name; its stream, whatever its label
    /// (DynamoDB Local labels it when the table is created).
    pub fn table(self, logical_id: &str, name: &str) -> Self {
        let arn = format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}");
        let stream = format!("{arn}/stream/*");
        self.resource(logical_id, name, &[("Arn", &arn), ("StreamArn", &stream)])
    }

    /// An S3 bucket by its name (`Ref`, as in CloudFormation).
    pub fn bucket(self, logical_id: &str, name: &str) -> Self {
        let arn = format!("arn:aws:s3:::{name}");
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

    pub(crate) fn lookup(&self, name: &str, attribute: Option<&str>) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arns_come_from_the_url() {
        assert_eq!(
            queue_arn("http://127.0.0.1:5005/123456789012/hold-expiry-x"),
            "arn:aws:sqs:us-east-1:123456789012:hold-expiry-x"
        );
    }
}
