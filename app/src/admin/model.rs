//! The admin objects as the UI reads them: the parts of authentik's API models the pages show
//! and edit. Reading is lenient (unknown fields are ignored, missing ones take defaults) so a
//! field the server adds never breaks a page; writes send only the fields a form changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The collections, as authentik's paths under `/api/v3/`.
pub mod collection {
    pub const FLOWS: &str = "flows/instances";
    pub const BINDINGS: &str = "flows/bindings";
    pub const STAGES: &str = "stages/all";
    pub const PROMPTS: &str = "stages/prompt/prompts";
    pub const POLICIES: &str = "policies/all";
    pub const EXPRESSION_POLICIES: &str = "policies/expression";
    pub const POLICY_BINDINGS: &str = "policies/bindings";
    pub const USERS: &str = "core/users";
    pub const GROUPS: &str = "core/groups";
    pub const INVITATIONS: &str = "stages/invitation/invitations";
    pub const EVENTS: &str = "events/events";
    pub const ADMIN_DEVICES: &str = "authenticators/admin/all";
    pub const SESSIONS: &str = "core/authenticated_sessions";
}

/// authentik's `Flow`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Flow {
    pub pk: String,
    pub name: String,
    pub slug: String,
    pub title: String,
    pub designation: String,
    pub authentication: String,
    pub layout: String,
    pub denied_action: String,
    pub policy_engine_mode: String,
    pub compatibility_mode: bool,
    pub background: String,
    /// Stage pks in binding order.
    pub stages: Vec<String>,
    pub policies: Vec<String>,
}

/// authentik's `FlowStageBinding`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Binding {
    pub pk: String,
    /// The flow's pk.
    pub target: String,
    /// The stage's pk.
    pub stage: String,
    pub stage_obj: Option<StageSummary>,
    pub order: i32,
    pub evaluate_on_plan: bool,
    pub re_evaluate_policies: bool,
    pub invalid_response_action: String,
    pub policy_engine_mode: String,
}

/// The part of authentik's `Stage` every page shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageSummary {
    pub pk: String,
    pub name: String,
    /// The stage's challenge component, e.g. `ak-stage-password`.
    pub component: String,
    pub verbose_name: String,
    pub meta_model_name: String,
}

/// A stage with all its fields (the typed form reads and writes the kind's own keys).
pub type StageObject = serde_json::Map<String, Value>;

/// The choices of a flow's enum fields, with labels (authentik's values).
pub mod choices {
    pub const DESIGNATION: &[(&str, &str)] = &[
        ("authentication", "Authentication"),
        ("authorization", "Authorization"),
        ("enrollment", "Enrollment"),
        ("invalidation", "Invalidation"),
        ("recovery", "Recovery"),
        ("stage_configuration", "Stage configuration"),
        ("unenrollment", "Unenrollment"),
    ];
    pub const AUTHENTICATION: &[(&str, &str)] = &[
        ("none", "No requirement"),
        ("require_authenticated", "Require an authenticated user"),
        ("require_unauthenticated", "Require no authenticated user"),
        ("require_superuser", "Require a superuser"),
        (
            "require_redirect",
            "Require being redirected from another flow",
        ),
        ("require_outpost", "Require an outpost"),
    ];
    pub const LAYOUT: &[(&str, &str)] = &[
        ("stacked", "Stacked"),
        ("content_left", "Content left"),
        ("content_right", "Content right"),
        ("sidebar_left", "Sidebar left"),
        ("sidebar_right", "Sidebar right"),
    ];
    pub const DENIED_ACTION: &[(&str, &str)] = &[
        ("message_continue", "Message and continue"),
        ("message", "Message"),
        ("continue", "Continue"),
    ];
    pub const POLICY_ENGINE_MODE: &[(&str, &str)] = &[
        ("any", "Any policy must pass"),
        ("all", "All policies must pass"),
    ];
    pub const INVALID_RESPONSE_ACTION: &[(&str, &str)] = &[
        ("retry", "Retry: show the stage again"),
        ("restart", "Restart the flow"),
        (
            "restart_with_context",
            "Restart the flow, keeping its context",
        ),
    ];

    /// The label of `value` in `choices` (the value itself when unknown).
    pub fn label<'a>(choices: &[(&'a str, &'a str)], value: &'a str) -> &'a str {
        choices
            .iter()
            .find(|(v, _)| *v == value)
            .map_or(value, |(_, label)| label)
    }
}

/// authentik's `Policy`, with its kind's own fields in `config`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub pk: String,
    pub name: String,
    pub execution_logging: bool,
    /// The kind's form component, e.g. `ak-policy-expression-form`.
    pub component: String,
    pub verbose_name: String,
    /// How many bindings use it.
    pub bound_to: i64,
    /// Every other field (the kind's configuration, read-only extras).
    #[serde(flatten)]
    pub config: serde_json::Map<String, Value>,
}

/// authentik's `TypeCreate`: a kind of object one can create.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TypeCreate {
    pub name: String,
    /// The kind's form component, e.g. `ak-policy-expression-form`.
    pub component: String,
    pub model_name: String,
}

/// authentik's `PolicyBinding`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyBinding {
    pub pk: String,
    pub policy: Option<String>,
    pub group: Option<String>,
    pub user: Option<i64>,
    pub policy_obj: Option<Policy>,
    pub target: String,
    pub negate: bool,
    pub enabled: bool,
    pub order: i32,
    pub timeout: i32,
    pub failure_result: bool,
}

/// A blueprint apply's answer as the server function sends it: one of the two is set.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct BlueprintWire {
    pub report: Option<ApplyReport>,
    pub error: Option<BlueprintError>,
}

/// What a blueprint apply (or its preview) answered.
#[derive(Clone, Debug, PartialEq)]
pub enum BlueprintAnswer {
    Report(ApplyReport),
    /// The blueprint cannot be applied as written; nothing was changed.
    Invalid(BlueprintError),
}

/// keyflow's apply report: what each entry did (or, in a preview, would do).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ApplyReport {
    pub dry_run: bool,
    /// Entries created, updated or deleted.
    pub changes: usize,
    pub blueprints: Vec<BlueprintReport>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BlueprintReport {
    pub source: String,
    pub name: String,
    pub entries: Vec<EntryReport>,
}

/// One entry's outcome: `action` is `created`, `updated` (with `fields`), `unchanged`,
/// `deleted`, `skipped` (with `reason`) or `applied` (a nested blueprint).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct EntryReport {
    /// `entries[3]`.
    pub entry: String,
    pub model: String,
    pub identifiers: Value,
    pub action: String,
    pub fields: Vec<String>,
    pub reason: Option<String>,
    pub blueprint: Option<String>,
    pub notes: Vec<String>,
}

/// Why a blueprint cannot be applied: where (file, entry, model, field) and why.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BlueprintError {
    pub file: String,
    pub entry: Option<String>,
    pub model: Option<String>,
    pub field: Option<String>,
    pub message: String,
}
