//! The challenge's `fields` (spec §4.14 "Challenge"): prompts loaded in `order`, placeholders
//! and initial values evaluated when they are expressions (the raw text when evaluation fails),
//! choices resolved for radio buttons and dropdowns. The same resolution is used to validate a
//! response, so choices and server values are the ones the person was shown.

use std::time::Duration;

use app::protocol::{PromptChoice, PromptField as WireField};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::PromptType;
use crate::engine::{policy::PolicyRequest, stage::StageCx, EngineError, EngineResult};
use crate::policies::expression::evaluate_value;
use crate::store::prompt;

/// How long one placeholder or initial-value expression may run.
const EXPRESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many choices are offered (a runaway expression must not build a huge page).
const MAX_CHOICES: usize = 1000;

/// A prompt as shown, with what validation needs besides the wire field.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedField {
    pub kind: PromptType,
    /// The prompt's own `required` (validation may relax it, see `validate`).
    pub required: bool,
    /// What hidden, static and read-only fields submit whatever the browser sends: the
    /// initial value, else the placeholder.
    pub server_value: String,
    pub challenge: WireField,
}

impl ResolvedField {
    pub fn key(&self) -> &str {
        &self.challenge.field_key
    }

    /// The default a response falls back to (authentik: a default makes the field optional).
    pub fn default_value(&self) -> Option<&str> {
        Some(self.challenge.initial_value.as_str()).filter(|v| !v.is_empty())
    }

    pub fn choice_values(&self) -> impl Iterator<Item = &str> {
        self.challenge
            .choices
            .iter()
            .flatten()
            .map(|c| c.value.as_str())
    }
}

/// Loads the stage's prompts ordered by `order` (ties keep the stage's list order) and
/// resolves each for the current flow context.
pub async fn resolve(cx: &StageCx<'_>, ids: &[Uuid]) -> EngineResult<Vec<ResolvedField>> {
    let rows = prompt::Entity::find()
        .filter(prompt::Column::Id.is_in(ids.iter().copied()))
        .all(cx.db())
        .await?;
    let mut ordered: Vec<&prompt::Model> = ids
        .iter()
        .filter_map(|id| rows.iter().find(|row| row.id == *id))
        .collect();
    ordered.sort_by_key(|row| row.order);

    let user = crate::engine::planner::policy_user(cx.services, cx.context, cx.session).await?;
    let request = PolicyRequest {
        user: user.as_ref(),
        context: cx.context,
        request: cx.request,
    };
    let mut resolved = Vec::with_capacity(ordered.len());
    for row in ordered {
        resolved.push(resolve_one(cx, &request, row).await?);
    }
    Ok(resolved)
}

async fn resolve_one(
    cx: &StageCx<'_>,
    request: &PolicyRequest<'_>,
    row: &prompt::Model,
) -> EngineResult<ResolvedField> {
    let kind = PromptType::parse(&row.kind).ok_or_else(|| {
        EngineError::CorruptData(format!(
            "prompt {:?}: unknown type {:?}",
            row.name, row.kind
        ))
    })?;
    let prompt_data = &cx.context.prompt_data;

    let placeholder = if row.placeholder_expression {
        evaluate_or_raw(cx, request, &row.placeholder).await
    } else {
        Value::String(row.placeholder.clone())
    };
    let choices = kind.has_choices().then(|| {
        let source = prompt_data
            .get(&format!("{}__choices", row.field_key))
            .unwrap_or(&placeholder);
        choices_from(source)
    });
    let mut initial_value = match prompt_data.get(&row.field_key) {
        Some(value) => py_str(value),
        None if row.initial_value_expression => {
            py_str(&evaluate_or_raw(cx, request, &row.initial_value).await)
        }
        None => row.initial_value.clone(),
    };
    if let Some(choices) = &choices {
        if !choices.iter().any(|c| c.value == initial_value) {
            initial_value = choices.first().map(|c| c.value.clone()).unwrap_or_default();
        }
    }
    let placeholder = if kind.has_choices() {
        String::new()
    } else {
        py_str(&placeholder)
    };
    let server_value = if initial_value.is_empty() {
        placeholder.clone()
    } else {
        initial_value.clone()
    };
    Ok(ResolvedField {
        kind,
        required: row.required,
        server_value,
        challenge: WireField {
            field_key: row.field_key.clone(),
            label: row.label.clone(),
            kind: row.kind.clone(),
            required: row.required,
            placeholder,
            initial_value,
            order: row.order,
            sub_text: row.sub_text.clone(),
            choices,
        },
    })
}

/// The expression's value, or the expression text itself when it fails (authentik's rule).
async fn evaluate_or_raw(cx: &StageCx<'_>, request: &PolicyRequest<'_>, expression: &str) -> Value {
    let prompt_context: &Map<String, Value> = &cx.context.prompt_data;
    match evaluate_value(
        cx.services,
        expression,
        request,
        prompt_context,
        EXPRESSION_TIMEOUT,
    )
    .await
    {
        Ok(value) => value,
        Err(error) => {
            tracing::warn!(stage = cx.stage_name, %error, "prompt expression failed; using its text");
            Value::String(expression.to_owned())
        }
    }
}

/// Choices from a placeholder value or `prompt_data["<key>__choices"]`: a list (tuples and sets
/// arrive as lists) gives one choice per item, anything else a single choice. An item is a
/// `{label, value}` mapping or a plain value used as both.
pub fn choices_from(source: &Value) -> Vec<PromptChoice> {
    let items: Vec<&Value> = match source {
        Value::Array(items) => items.iter().take(MAX_CHOICES).collect(),
        other => vec![other],
    };
    items.into_iter().map(choice).collect()
}

fn choice(item: &Value) -> PromptChoice {
    match item {
        Value::Object(map) => {
            let value = map.get("value").map(py_str).unwrap_or_default();
            let label = map.get("label").map_or_else(|| value.clone(), py_str);
            PromptChoice { label, value }
        }
        other => {
            let text = py_str(other);
            PromptChoice {
                label: text.clone(),
                value: text,
            }
        }
    }
}

/// `str(value)` as Python prints it (expressions are Python: `True`, `None`, `['a', 1]`).
pub fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(choices: Vec<PromptChoice>) -> Vec<(String, String)> {
        choices.into_iter().map(|c| (c.label, c.value)).collect()
    }

    #[test]
    fn a_list_gives_many_choices_anything_else_one() {
        assert_eq!(
            pairs(choices_from(
                &json!(["a", 2, {"label": "Cee", "value": "c"}])
            )),
            vec![
                ("a".into(), "a".into()),
                ("2".into(), "2".into()),
                ("Cee".into(), "c".into())
            ]
        );
        assert_eq!(
            pairs(choices_from(&json!("only"))),
            vec![("only".into(), "only".into())]
        );
        assert_eq!(
            pairs(choices_from(&json!({"label": 1, "value": true}))),
            vec![("1".into(), "True".into())]
        );
    }

    #[test]
    fn choices_are_capped() {
        let many: Vec<u32> = (0..5000).collect();
        assert_eq!(choices_from(&json!(many)).len(), MAX_CHOICES);
    }

    #[test]
    fn values_are_stringified_as_python_does() {
        assert_eq!(py_str(&json!("x")), "x");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(42)), "42");
        assert_eq!(py_str(&json!(["a", 1, false])), "['a', 1, False]");
        assert_eq!(py_str(&json!({"k": "it's"})), "{'k': 'it\\'s'}");
    }
}
