//! CloudFormation intrinsics (`!Ref`, `!GetAtt`, `!Sub`, `!Select`,
//! `!Split`, `!Join`, tagged or in their `Fn::` long form) resolved to plain
//! values against the local resources.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::locals::Locals;
use crate::template::TemplateError;

/// Resolves CloudFormation intrinsics (tagged YAML values) to plain values.
pub(crate) struct Resolver<'a> {
    pub function: &'a str,
    pub locals: &'a Locals,
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

    pub fn resolve(&self, value: &Value) -> Result<Value, TemplateError> {
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
