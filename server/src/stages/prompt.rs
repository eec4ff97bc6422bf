//! Prompt: asks for the values of its prompt fields (`prompts` rows) and adds them to
//! `prompt_data`. The configuration and the Prompt model are here; the stage itself is not
//! implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PromptStage {
    /// Prompt ids, shown ordered by each prompt's `order`.
    pub fields: Vec<Uuid>,
    /// Policies that must all pass for the submitted values (mode "all", no cache).
    pub validation_policies: Vec<Uuid>,
}

#[async_trait::async_trait]
impl Stage for PromptStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("prompt")
    }
}

/// authentik's prompt field types, spelled as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

fn yes() -> bool {
    true
}

/// One prompt field (authentik's `authentik_stages_prompt.prompt`), stored in `prompts`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
