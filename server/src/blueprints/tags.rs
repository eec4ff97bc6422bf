//! authentik's YAML tags, evaluated into plain JSON values while an entry is applied:
//! `!KeyOf`, `!Find`, `!Context`, `!Env`, `!Format`, `!If` and `!Condition`. Any other tag is a
//! clear "not supported" error rather than a value silently taken as text.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use sea_orm::DatabaseTransaction;
use serde_json::{Map, Number, Value};
use serde_norway::Value as Yaml;

use super::models::{self, Fields};
use super::{error::EntryError, registry};

/// What an earlier entry's `id` stands for.
#[derive(Clone, Debug)]
pub enum Reference {
    /// The pk of the object the entry created, updated or found.
    Pk(Value),
    /// The entry was skipped, for this reason; entries pointing at it are skipped too.
    Skipped(String),
    /// The entry removed its object (`state: absent`): the pk it had, or `None` when there
    /// was nothing to remove.
    Deleted(Option<Value>),
}

/// Why a value could not be produced.
#[derive(Debug)]
pub enum TagError {
    /// The entry cannot apply in keyflow (it points at something skipped): skip it too.
    Skip(String),
    /// The blueprint is wrong: `path` is where, inside the entry.
    Invalid {
        path: String,
        message: String,
    },
    Database(sea_orm::DbErr),
}

pub struct Scope<'a> {
    pub tx: &'a DatabaseTransaction,
    pub references: &'a HashMap<String, Reference>,
    pub context: &'a Map<String, Value>,
    /// `!Env` reads the server's environment: allowed for files given on the command line and
    /// embedded blueprints, not for blueprints sent over the API.
    pub allow_env: bool,
    pub now: chrono::DateTime<chrono::Utc>,
    /// Resolving the identifiers of a `state: absent` entry: `!KeyOf` an entry that deleted its
    /// object gives the pk that object had (null when it was already gone), so the removal
    /// finds what is left, or reports it already absent, in any order.
    pub removing: bool,
}

type Resolving<'a> = Pin<Box<dyn Future<Output = Result<Value, TagError>> + Send + 'a>>;

fn invalid(path: &str, message: impl Into<String>) -> TagError {
    TagError::Invalid {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// Python's truthiness, which `!If` and `!Condition` follow.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

pub fn yaml_number(n: &serde_norway::Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::from(i)
    } else if let Some(u) = n.as_u64() {
        Value::from(u)
    } else {
        n.as_f64()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Resolves `value` (and every tag inside it) into plain JSON.
pub fn resolve<'a>(scope: &'a Scope<'a>, value: &'a Yaml, path: String) -> Resolving<'a> {
    Box::pin(async move {
        Ok(match value {
            Yaml::Null => Value::Null,
            Yaml::Bool(b) => Value::Bool(*b),
            Yaml::Number(n) => yaml_number(n),
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(resolve(scope, item, format!("{path}[{i}]")).await?);
                }
                Value::Array(out)
            }
            Yaml::Mapping(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let key = key_text(&resolve(scope, key, path.clone()).await?);
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    out.insert(key, resolve(scope, item, child).await?);
                }
                Value::Object(out)
            }
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                let name = tag.trim_start_matches('!');
                evaluate(scope, name, &tagged.value, path).await?
            }
        })
    })
}

/// The arguments of a tag written as a sequence (`!If [a, b, c]`); a scalar is one argument.
fn arguments(value: &Yaml) -> Vec<&Yaml> {
    match value {
        Yaml::Sequence(items) => items.iter().collect(),
        Yaml::Null => Vec::new(),
        other => vec![other],
    }
}

async fn evaluate(
    scope: &Scope<'_>,
    tag: &str,
    value: &Yaml,
    path: String,
) -> Result<Value, TagError> {
    match tag {
        "KeyOf" => key_of(scope, value, &path).await,
        "Find" => find(scope, value, &path).await,
        "Context" => {
            let args = arguments(value);
            let key = key_text(&resolve(scope, first(&args, tag, &path)?, path.clone()).await?);
            match scope.context.get(&key) {
                Some(found) => Ok(found.clone()),
                None => match args.get(1) {
                    Some(default) => resolve(scope, default, path.clone()).await,
                    None => Ok(Value::Null),
                },
            }
        }
        "Env" => {
            if !scope.allow_env {
                return Err(invalid(
                    &path,
                    "!Env is not allowed in blueprints sent over the API",
                ));
            }
            let args = arguments(value);
            let name = key_text(&resolve(scope, first(&args, tag, &path)?, path.clone()).await?);
            match std::env::var(&name) {
                Ok(found) => Ok(Value::String(found)),
                Err(_) => match args.get(1) {
                    Some(default) => resolve(scope, default, path.clone()).await,
                    None => Ok(Value::Null),
                },
            }
        }
        "Format" => {
            let args = arguments(value);
            let format = resolve(scope, first(&args, tag, &path)?, path.clone()).await?;
            let Value::String(format) = format else {
                return Err(invalid(&path, "!Format needs a format string first"));
            };
            let mut values = Vec::new();
            for arg in args.iter().skip(1) {
                values.push(resolve(scope, arg, path.clone()).await?);
            }
            percent_format(&format, &values)
                .map(Value::String)
                .map_err(|m| invalid(&path, m))
        }
        "If" => {
            let args = arguments(value);
            let condition = resolve(scope, first(&args, tag, &path)?, path.clone()).await?;
            let chosen = if truthy(&condition) {
                args.get(1)
            } else {
                args.get(2)
            };
            match chosen {
                Some(branch) => resolve(scope, branch, path.clone()).await,
                None => Ok(Value::Bool(truthy(&condition))),
            }
        }
        "Condition" => {
            let args = arguments(value);
            let mode = resolve(scope, first(&args, tag, &path)?, path.clone()).await?;
            let mut results = Vec::new();
            for arg in args.iter().skip(1) {
                results.push(truthy(&resolve(scope, arg, path.clone()).await?));
            }
            let passing = results.iter().filter(|r| **r).count();
            let all = passing == results.len();
            let any = passing > 0;
            let result = match mode.as_str().unwrap_or_default() {
                "AND" => all,
                "NAND" => !all,
                "OR" => any,
                "NOR" => !any,
                "XOR" => passing % 2 == 1,
                "XNOR" => passing % 2 == 0,
                other => {
                    return Err(invalid(
                        &path,
                        format!(
                            "!Condition mode {other:?} is not one of AND, NAND, OR, NOR, XOR, XNOR"
                        ),
                    ))
                }
            };
            Ok(Value::Bool(result))
        }
        other => Err(invalid(
            &path,
            format!("tag !{other} is not supported by keyflow"),
        )),
    }
}

fn first<'v>(args: &[&'v Yaml], tag: &str, path: &str) -> Result<&'v Yaml, TagError> {
    args.first()
        .copied()
        .ok_or_else(|| invalid(path, format!("!{tag} needs an argument")))
}

async fn key_of(scope: &Scope<'_>, value: &Yaml, path: &str) -> Result<Value, TagError> {
    let Yaml::String(id) = value else {
        return Err(invalid(path, "!KeyOf needs the id of an earlier entry"));
    };
    match scope.references.get(id) {
        Some(Reference::Pk(pk)) => Ok(pk.clone()),
        Some(Reference::Skipped(reason)) => Err(TagError::Skip(format!(
            "!KeyOf {id} points at a skipped entry ({reason})"
        ))),
        Some(Reference::Deleted(pk)) if scope.removing => Ok(pk.clone().unwrap_or(Value::Null)),
        Some(Reference::Deleted(_)) => Err(invalid(
            path,
            format!("!KeyOf {id}: that entry deleted its object (state: absent)"),
        )),
        None => Err(invalid(
            path,
            format!("!KeyOf {id}: no earlier entry has id {id:?}"),
        )),
    }
}

/// `!Find [model, [field, value], ...]`: the pk of the first match, or null.
async fn find(scope: &Scope<'_>, value: &Yaml, path: &str) -> Result<Value, TagError> {
    let args = arguments(value);
    let model = resolve(scope, first(&args, "Find", path)?, path.to_owned()).await?;
    let Value::String(model) = model else {
        return Err(invalid(path, "!Find needs a model name first"));
    };
    let mut identifiers = Fields::new();
    for pair in args.iter().skip(1) {
        let pair = resolve(scope, pair, path.to_owned()).await?;
        match pair {
            Value::Array(kv) if kv.len() == 2 => {
                identifiers.insert(key_text(&kv[0]), kv[1].clone());
            }
            _ => {
                return Err(invalid(
                    path,
                    "!Find needs [field, value] pairs after the model",
                ))
            }
        }
    }
    let Some(store) = registry::lookup(&model).and_then(|m| registry::store(m, scope.now)) else {
        return Err(TagError::Skip(format!(
            "!Find looks up model {model}, which keyflow does not support"
        )));
    };
    match models::find(store.as_ref(), scope.tx, &identifiers).await {
        Ok(found) => Ok(found.map(|record| record.pk).unwrap_or(Value::Null)),
        Err(EntryError::Database(e)) => Err(TagError::Database(e)),
        Err(EntryError::Unsupported(reason)) => Err(TagError::Skip(reason)),
        Err(EntryError::Invalid { message, .. }) => Err(invalid(path, message)),
    }
}

/// Python's `format % args` for the conversions blueprints use: `%s`, `%d`, `%i`, `%%`.
pub fn percent_format(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(conversion @ ('s' | 'd' | 'i')) => {
                let arg = args
                    .next()
                    .ok_or("!Format: not enough arguments for the format string")?;
                match (conversion, arg) {
                    ('s', Value::String(s)) => out.push_str(s),
                    ('s', Value::Null) => out.push_str("None"),
                    ('s', Value::Bool(true)) => out.push_str("True"),
                    ('s', Value::Bool(false)) => out.push_str("False"),
                    ('s', other) => out.push_str(&other.to_string()),
                    (_, Value::Number(n)) => match n.as_f64() {
                        Some(f) => out.push_str(&(f.trunc() as i64).to_string()),
                        None => out.push_str(&n.to_string()),
                    },
                    (_, other) => {
                        return Err(format!(
                            "!Format: %{conversion} needs a number, got {other}"
                        ))
                    }
                }
            }
            Some(other) => return Err(format!("!Format: %{other} is not supported")),
            None => return Err("!Format: the format string ends with %".into()),
        }
    }
    if args.next().is_some() {
        return Err("!Format: more arguments than the format string uses".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percent_format_follows_python() {
        assert_eq!(
            percent_format("%s-%d%%", &[json!("a"), json!(3)]).unwrap(),
            "a-3%"
        );
        assert!(percent_format("%s %s", &[json!("a")]).is_err());
        assert!(percent_format("%x", &[json!(1)]).is_err());
    }

    #[test]
    fn truthiness_is_pythons() {
        assert!(!truthy(&json!("")));
        assert!(!truthy(&json!(0)));
        assert!(!truthy(&json!([])));
        assert!(truthy(&json!("x")));
    }
}
