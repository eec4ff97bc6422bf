//! Prompt (spec §4.14): asks for the values of its prompt fields (`prompts` rows) and adds the
//! validated values to `prompt_data`.
//!
//! - [`fields`] loads the prompts and builds the challenge's `fields` (expressions evaluated,
//!   choices resolved, server values for hidden / static / read-only fields);
//! - [`validate`] checks a response field by field, as authentik's serializer does;
//! - this module runs the password match and the validation policies and decides.

pub mod fields;
pub mod validate;

use app::protocol::{
    ChallengeKind, MessageLevel, PromptChallenge, ResponseErrors, NON_FIELD_ERRORS,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::engine::{
    policy::{evaluate_policies, PolicyRequest},
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::flows::PolicyEngineMode;
use fields::ResolvedField;

/// Shown when validation policies fail without saying why (authentik would show nothing).
pub const POLICIES_FAILED: &str = "The submitted values were not accepted.";
pub const PASSWORDS_DONT_MATCH: &str = "Passwords don't match.";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct PromptStage {
    /// Prompt ids, shown ordered by each prompt's `order` (ties keep this list's order).
    pub fields: Vec<Uuid>,
    /// Policies that must all pass for the submitted values (mode "all", no cache).
    pub validation_policies: Vec<Uuid>,
}

impl PromptStage {
    fn challenge_kind(resolved: &[ResolvedField]) -> ChallengeKind {
        ChallengeKind::Prompt(PromptChallenge {
            fields: resolved.iter().map(|f| f.challenge.clone()).collect(),
        })
    }

    /// The validation policies, evaluated (mode all) with `prompt_data` = `validated`.
    async fn run_policies(
        &self,
        cx: &StageCx<'_>,
        validated: &Map<String, Value>,
    ) -> EngineResult<crate::engine::policy::PolicyResult> {
        let user = crate::engine::planner::policy_user(cx.services, cx.context, cx.session).await?;
        let mut context = cx.context.clone();
        context.prompt_data = validated.clone();
        evaluate_policies(
            cx.services,
            &self.validation_policies,
            PolicyEngineMode::All,
            &PolicyRequest {
                user: user.as_ref(),
                context: &context,
                request: cx.request,
            },
        )
        .await
    }
}

/// Checks the two password fields (when there are exactly two) hold the same value.
fn passwords_match(resolved: &[ResolvedField], validated: &Map<String, Value>) -> bool {
    let passwords: Vec<&ResolvedField> = resolved
        .iter()
        .filter(|f| f.kind == PromptType::Password)
        .collect();
    match passwords.as_slice() {
        [first, second] => {
            validated.get(&first.challenge.field_key) == validated.get(&second.challenge.field_key)
        }
        _ => true,
    }
}

#[async_trait::async_trait]
impl Stage for PromptStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let resolved = fields::resolve(cx, &self.fields).await?;
        Ok(StageOutcome::Show(Self::challenge_kind(&resolved)))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let resolved = fields::resolve(cx, &self.fields).await?;
        let invalid = |errors: ResponseErrors| -> EngineResult<StageOutcome> {
            Ok(StageOutcome::Invalid(
                Self::challenge_kind(&resolved),
                errors,
            ))
        };

        let own_username = cx.pending_or_session_user().await?.map(|u| u.username);
        let mut validated = match validate::validate(
            cx.db(),
            &resolved,
            response,
            own_username.as_deref(),
        )
        .await?
        {
            Ok(validated) => validated,
            Err(errors) => return invalid(errors),
        };
        if !passwords_match(&resolved, &validated) {
            return invalid(ResponseErrors::single(
                NON_FIELD_ERRORS,
                PASSWORDS_DONT_MATCH,
                "invalid",
            ));
        }
        if !self.validation_policies.is_empty() {
            let result = self.run_policies(cx, &validated).await?;
            if !result.passing {
                let mut errors = ResponseErrors::new();
                for message in &result.messages {
                    errors.add(NON_FIELD_ERRORS, message.as_str(), "invalid");
                }
                if errors.is_empty() {
                    errors.add(NON_FIELD_ERRORS, POLICIES_FAILED, "invalid");
                }
                return invalid(errors);
            }
            // Messages of passing policies are shown to the person as information (§4.14).
            for message in result.messages {
                cx.message(MessageLevel::Info, message);
            }
        }
        // authentik's validated data carries the component too (user write drops it).
        validated.insert(
            "component".into(),
            Value::String(app::protocol::component::PROMPT.into()),
        );
        cx.context.prompt_data.extend(validated);
        Ok(StageOutcome::Passed)
    }
}

/// authentik's prompt field types, spelled as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum PromptType {
    #[serde(rename = "text")]
    Text,
    #[serde(rename = "text_area")]
    TextArea,
    #[serde(rename = "text_read_only")]
    TextReadOnly,
    #[serde(rename = "text_area_read_only")]
    TextAreaReadOnly,
    #[serde(rename = "username")]
    Username,
    #[serde(rename = "email")]
    Email,
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "number")]
    Number,
    #[serde(rename = "checkbox")]
    Checkbox,
    #[serde(rename = "radio-button-group")]
    RadioButtonGroup,
    #[serde(rename = "dropdown")]
    Dropdown,
    #[serde(rename = "date")]
    Date,
    #[serde(rename = "date-time")]
    DateTime,
    #[serde(rename = "file")]
    File,
    #[serde(rename = "separator")]
    Separator,
    #[serde(rename = "hidden")]
    Hidden,
    #[serde(rename = "static")]
    Static,
    #[serde(rename = "ak-locale")]
    AkLocale,
}

impl PromptType {
    /// Parses the stored `type` column; `None` for a type authentik does not have.
    pub fn parse(stored: &str) -> Option<Self> {
        serde_json::from_value(Value::String(stored.to_owned())).ok()
    }

    /// Radio buttons and dropdowns: the value is one of `choices`.
    pub fn has_choices(self) -> bool {
        matches!(self, Self::RadioButtonGroup | Self::Dropdown)
    }

    /// Types whose value is the server's, whatever is submitted.
    pub fn server_value_wins(self) -> bool {
        matches!(
            self,
            Self::Hidden | Self::Static | Self::TextReadOnly | Self::TextAreaReadOnly
        )
    }
}

fn yes() -> bool {
    true
}

/// One prompt field (authentik's `authentik_stages_prompt.prompt`), stored in `prompts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PromptField {
    pub name: String,
    /// The key in `prompt_data`; dotted keys such as `attributes.settings.locale` are allowed.
    pub field_key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: PromptType,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub placeholder: String,
    #[serde(default)]
    pub initial_value: String,
    #[serde(default)]
    pub sub_text: String,
    #[serde(default)]
    pub order: i32,
    #[serde(default)]
    pub placeholder_expression: bool,
    #[serde(default)]
    pub initial_value_expression: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::PromptField as WireField;
    use serde_json::json;

    fn resolved(key: &str, kind: PromptType) -> ResolvedField {
        ResolvedField {
            kind,
            required: true,
            server_value: String::new(),
            challenge: WireField {
                field_key: key.into(),
                label: key.into(),
                kind: String::new(),
                required: true,
                placeholder: String::new(),
                initial_value: String::new(),
                order: 0,
                sub_text: String::new(),
                choices: None,
            },
        }
    }

    #[test]
    fn every_type_parses_from_its_wire_name_and_unknown_ones_do_not() {
        for (name, kind) in [
            ("text", PromptType::Text),
            ("text_area_read_only", PromptType::TextAreaReadOnly),
            ("radio-button-group", PromptType::RadioButtonGroup),
            ("date-time", PromptType::DateTime),
            ("ak-locale", PromptType::AkLocale),
        ] {
            assert_eq!(PromptType::parse(name), Some(kind));
        }
        assert_eq!(PromptType::parse("teleport"), None);
        assert_eq!(PromptType::parse("Text"), None);
    }

    #[test]
    fn exactly_two_password_fields_must_match() {
        let two = [
            resolved("password", PromptType::Password),
            resolved("password_repeat", PromptType::Password),
        ];
        let same = json!({"password": "a", "password_repeat": "a"});
        let different = json!({"password": "a", "password_repeat": "b"});
        assert!(passwords_match(&two, same.as_object().unwrap()));
        assert!(!passwords_match(&two, different.as_object().unwrap()));
        // One or three password fields are not compared.
        let three = [
            resolved("a", PromptType::Password),
            resolved("b", PromptType::Password),
            resolved("c", PromptType::Password),
        ];
        let values = json!({"a": "1", "b": "2", "c": "3"});
        assert!(passwords_match(&three, values.as_object().unwrap()));
        assert!(passwords_match(&two[..1], different.as_object().unwrap()));
    }
}
