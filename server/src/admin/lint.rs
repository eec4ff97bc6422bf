//! The flow linter (issue #14): finds flows that cannot work as their author meant, from the
//! planner's static trace (the same code path execution takes, see `diagram`) and the stages'
//! typed configurations. Each [`Finding`] names the binding and says how to fix it; errors make
//! `keyflow flow lint SLUG` exit 1.
//!
//! Rules ([`Finding::rule`]):
//! - `never-runs`: a binding whose policies can never pass (a deny-everything pattern:
//!   `return False`, a dummy policy with a fixed false result, a negated `return True`, an empty
//!   binding), or bound after a deny stage that always runs; also flow policies that never pass.
//! - `policies-never-checked` (warning): policies bound to a binding that checks neither on
//!   plan nor when current; the stage always runs.
//! - `pending-user-missing`: a password, email or user-login stage before any identification
//!   or user-write stage (a warning when the only such stage may be skipped).
//! - `mfa-bypass`: a user-login stage reachable, after an identification stage picked an
//!   existing account (which may have MFA devices), without an authenticator-validation stage
//!   on the way (authentik's example recovery flow).
//! - `missing-stage`: a binding whose stage does not exist or cannot be read.
//! - `duplicate-prompt-key`: prompt fields bound twice under one `field_key` across the flow's
//!   prompt stages (error within one stage, warning across stages: the later answer wins).
//! - `missing-prompt`: a prompt stage listing a prompt that does not exist.
//! - `password-no-backends`: a password stage with no backends can never accept a password.

use std::collections::HashMap;

use sea_orm::EntityTrait;
use serde::Serialize;
use uuid::Uuid;

use super::diagram::{gate_label, static_trace, DiagramError};
use crate::engine::{
    trace::{BindingTrace, Gate, GateSet, GateSubject, PlanTrace},
    EngineServices,
};
use crate::flows::PolicyEngineMode;
use crate::policies::PolicyConfig;
use crate::stages::StageConfig;
use crate::store::{policy, prompt, stage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, tied to a binding when it has one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub rule: &'static str,
    pub binding_id: Option<Uuid>,
    pub order: Option<i32>,
    pub stage_name: Option<String>,
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    /// One line for people: `error[rule] binding 100 "login": message`, then the fix.
    pub fn to_text(&self) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let place = match (self.order, &self.stage_name, self.binding_id) {
            (Some(order), Some(name), Some(id)) => {
                format!("binding order {order} (stage {name:?}, binding {id})")
            }
            (Some(order), None, Some(id)) => format!("binding order {order} (binding {id})"),
            _ => "flow".to_owned(),
        };
        format!(
            "{severity}[{}] {place}: {}\n  fix: {}",
            self.rule, self.message, self.fix
        )
    }
}

/// The linter's answer for one flow (the REST body).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LintReport {
    pub flow: String,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

impl LintReport {
    fn new(flow: String, findings: Vec<Finding>) -> Self {
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        Self {
            flow,
            warnings: findings.len() - errors,
            errors,
            findings,
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for finding in &self.findings {
            out.push_str(&finding.to_text());
            out.push('\n');
        }
        out.push_str(&format!(
            "{}: {} error(s), {} warning(s)\n",
            self.flow, self.errors, self.warnings
        ));
        out
    }
}

/// `keyflow flow …`
#[derive(Debug, clap::Subcommand)]
pub enum FlowCommand {
    /// Check a flow for mistakes and print each finding with how to fix it; the exit code is 1
    /// when an error is found.
    Lint {
        /// The flow's slug.
        #[arg(value_name = "SLUG")]
        slug: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot prepare the data directory: {0}")]
    DataDir(std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("no flow with slug {0:?}")]
    FlowNotFound(String),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

/// Runs a `keyflow flow` command; `Ok(false)` when the linter found an error.
pub async fn run_cli(
    config: &crate::config::Config,
    command: FlowCommand,
) -> Result<bool, CliError> {
    config.prepare_sqlite_dir().map_err(CliError::DataDir)?;
    let db = crate::store::connect_and_migrate(&config.database_url).await?;
    let services = offline_services(db)?;
    match command {
        FlowCommand::Lint { slug } => {
            let report = match lint_flow(&services, &slug).await {
                Ok(report) => report,
                Err(DiagramError::FlowNotFound) => return Err(CliError::FlowNotFound(slug)),
                Err(DiagramError::Engine(e)) => return Err(e.into()),
            };
            print!("{}", report.to_text());
            Ok(report.errors == 0)
        }
    }
}

/// Engine services for a command that only reads flows: nothing is evaluated, and a dry run is
/// set in case anything tried to write.
fn offline_services(
    db: sea_orm::DatabaseConnection,
) -> Result<EngineServices, crate::engine::EngineError> {
    Ok(EngineServices {
        mail: crate::mail::Mailer::new(db.clone(), Default::default(), Default::default()),
        outbound: crate::outbound::Outbound::new()?,
        db,
        settings: std::sync::Arc::new(crate::engine::EngineSettings::default()),
        passwords: crate::auth::password::PasswordHasher::new()?,
        sandbox: crate::sandbox::Sandbox::in_process(),
        completion: Default::default(),
        stages: crate::stages::registry(),
        policies: crate::policies::evaluator(),
        dry_run: Some(crate::engine::DryRun::default()),
    })
}

/// What the rules read besides the trace: typed configurations by id.
#[derive(Debug, Default)]
pub struct Facts {
    pub stages: HashMap<Uuid, StageConfig>,
    pub policies: HashMap<Uuid, PolicyConfig>,
    pub prompts: HashMap<Uuid, prompt::Model>,
}

/// Lints flow `slug`.
pub async fn lint_flow(services: &EngineServices, slug: &str) -> Result<LintReport, DiagramError> {
    let trace = static_trace(services, slug).await?;
    let mut facts = Facts::default();
    for binding in &trace.bindings {
        if binding.stage.is_some() {
            if let Some(row) = stage::Entity::find_by_id(binding.stage_id)
                .one(&services.db)
                .await?
            {
                if let Ok(config) = StageConfig::from_row(&row) {
                    if let StageConfig::Prompt(prompt_stage) = &config {
                        for id in &prompt_stage.fields {
                            if let Some(field) =
                                prompt::Entity::find_by_id(*id).one(&services.db).await?
                            {
                                facts.prompts.insert(*id, field);
                            }
                        }
                    }
                    facts.stages.insert(row.id, config);
                }
            }
        }
    }
    let gates = trace
        .flow_policies
        .iter()
        .chain(trace.bindings.iter().map(|b| &b.policies))
        .flat_map(|set| set.gates.iter());
    for gate in gates {
        if let GateSubject::Policy { id, .. } = gate.subject {
            if let Some(row) = policy::Entity::find_by_id(id).one(&services.db).await? {
                if let Ok(config) = PolicyConfig::from_row(&row) {
                    facts.policies.insert(id, config);
                }
            }
        }
    }
    Ok(LintReport::new(trace.slug.clone(), lint(&trace, &facts)))
}

/// `Some(result)` when an expression always returns the same thing whoever runs it: its only
/// statement is `return True` / `return False` (or 1, 0, None), comments aside.
fn constant_expression(expression: &str) -> Option<bool> {
    let mut statements = expression
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty());
    let only = statements.next()?;
    if statements.next().is_some() {
        return None;
    }
    match only.strip_prefix("return")?.trim() {
        "True" | "1" => Some(true),
        "False" | "0" | "None" | "" => Some(false),
        _ => None,
    }
}

/// The gate's result when it is the same for everyone, after `negate`.
fn constant_gate(gate: &Gate, facts: &Facts) -> Option<bool> {
    let own = match &gate.subject {
        GateSubject::Nothing => Some(false),
        GateSubject::Policy { name: None, .. } => {
            // A missing policy fails to evaluate: `failure_result`, not negated.
            return Some(gate.failure_result);
        }
        GateSubject::Policy { id, .. } => match facts.policies.get(id) {
            Some(PolicyConfig::Expression(p)) => constant_expression(&p.expression),
            Some(PolicyConfig::Dummy(p)) => Some(p.result),
            _ => None,
        },
        GateSubject::Group { .. } | GateSubject::User { .. } => None,
    };
    own.map(|passing| passing != gate.negate)
}

/// The gate set's result when it is the same for everyone.
fn constant_set(set: &GateSet, facts: &Facts) -> Option<bool> {
    if set.gates.is_empty() {
        return Some(true);
    }
    let results: Vec<Option<bool>> = set.gates.iter().map(|g| constant_gate(g, facts)).collect();
    match set.mode {
        PolicyEngineMode::All if results.contains(&Some(false)) => Some(false),
        PolicyEngineMode::All if results.iter().all(|r| *r == Some(true)) => Some(true),
        PolicyEngineMode::Any if results.contains(&Some(true)) => Some(true),
        PolicyEngineMode::Any if results.iter().all(|r| *r == Some(false)) => Some(false),
        _ => None,
    }
}

fn names(set: &GateSet) -> String {
    set.gates
        .iter()
        .map(|g| gate_label(&g.subject, g.negate))
        .collect::<Vec<_>>()
        .join(", ")
}

fn finding(
    severity: Severity,
    rule: &'static str,
    binding: &BindingTrace,
    message: String,
    fix: String,
) -> Finding {
    Finding {
        severity,
        rule,
        binding_id: Some(binding.binding_id),
        order: Some(binding.order),
        stage_name: binding.stage.as_ref().map(|s| s.name.clone()),
        message,
        fix,
    }
}

/// Whether the flow has a pending user at a point.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PendingUser {
    No,
    Maybe,
    Yes,
}

/// Runs every rule over a static trace.
pub fn lint(trace: &PlanTrace, facts: &Facts) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(set) = &trace.flow_policies {
        if constant_set(set, facts) == Some(false) {
            findings.push(Finding {
                severity: Severity::Error,
                rule: "never-runs",
                binding_id: None,
                order: None,
                stage_name: None,
                message: format!(
                    "the flow's own policies can never pass ({}): no stage of it ever runs",
                    names(set)
                ),
                fix: "Remove or fix the flow's policy bindings.".into(),
            });
            return findings;
        }
    }
    let mut denied_by: Option<&BindingTrace> = None;
    let mut pending = PendingUser::No;
    // The identification stage that picked an existing account, while no validation followed.
    let mut unvalidated_identification: Option<&BindingTrace> = None;
    // field_key → (binding, prompt stage id, prompt name) of its first binding.
    let mut prompt_keys: HashMap<String, (&BindingTrace, Uuid, String)> = HashMap::new();

    for binding in &trace.bindings {
        if let Some(deny) = denied_by {
            findings.push(finding(
                Severity::Error,
                "never-runs",
                binding,
                format!(
                    "can never run: it comes after the deny stage {:?} (order {}), which always runs",
                    deny.stage.as_ref().map(|s| s.name.as_str()).unwrap_or(""),
                    deny.order
                ),
                format!(
                    "Move this binding before order {}, or bind a policy to the deny stage's binding so it only denies some users.",
                    deny.order
                ),
            ));
            continue;
        }
        let Some(stage) = &binding.stage else {
            findings.push(finding(
                Severity::Error,
                "missing-stage",
                binding,
                format!(
                    "is bound to stage {}, which {}: the flow fails here",
                    binding.stage_id,
                    binding.stage_error.as_deref().unwrap_or("cannot be read")
                ),
                "Delete the binding, or recreate the stage and bind it again.".into(),
            ));
            continue;
        };
        let constant = constant_set(&binding.policies, facts);
        if binding.is_gated() && constant == Some(false) {
            findings.push(finding(
                Severity::Error,
                "never-runs",
                binding,
                format!(
                    "can never run: its policies ({} of: {}) never pass for anyone",
                    crate::flows::stored(&binding.policies.mode),
                    names(&binding.policies)
                ),
                "Remove the binding, or change its policies so the users it is meant for pass them.".into(),
            ));
            continue;
        }
        if !binding.policies.gates.is_empty() && !binding.is_gated() {
            findings.push(finding(
                Severity::Warning,
                "policies-never-checked",
                binding,
                format!(
                    "has policies ({}) but checks them neither on plan nor when current: the stage always runs",
                    names(&binding.policies)
                ),
                "Turn on evaluate_on_plan or re_evaluate_policies, or remove the policy bindings.".into(),
            ));
        }
        let always = !binding.is_gated() || constant == Some(true);
        let config = facts.stages.get(&binding.stage_id);
        match config {
            Some(StageConfig::Identification(_)) => {
                pending = if always {
                    PendingUser::Yes
                } else {
                    pending.max_maybe()
                };
                unvalidated_identification = Some(binding);
            }
            Some(StageConfig::UserWrite(_)) => {
                pending = if always {
                    PendingUser::Yes
                } else {
                    pending.max_maybe()
                };
            }
            Some(StageConfig::AuthenticatorValidate(_)) => {
                unvalidated_identification = None;
            }
            Some(StageConfig::Deny(_)) if always => denied_by = Some(binding),
            _ => {}
        }
        if let Some(StageConfig::Password(_) | StageConfig::Email(_) | StageConfig::UserLogin(_)) =
            config
        {
            let fix = format!(
                "Bind an identification stage (or a user-write stage) before order {}.",
                binding.order
            );
            match pending {
                PendingUser::No => findings.push(finding(
                    Severity::Error,
                    "pending-user-missing",
                    binding,
                    format!(
                        "the {} stage needs a pending user, and no stage before it sets one",
                        stage.kind
                    ),
                    fix,
                )),
                PendingUser::Maybe => findings.push(finding(
                    Severity::Warning,
                    "pending-user-missing",
                    binding,
                    format!(
                        "the {} stage needs a pending user, and the only stages before it that set one may be skipped",
                        stage.kind
                    ),
                    fix,
                )),
                PendingUser::Yes => {}
            }
        }
        if let (Some(StageConfig::UserLogin(_)), Some(identification)) =
            (config, unvalidated_identification)
        {
            findings.push(finding(
                Severity::Error,
                "mfa-bypass",
                binding,
                format!(
                    "logs in the account identified by {:?} (order {}) without any authenticator-validation stage on the way: a user with MFA devices signs in without their second factor",
                    identification.stage.as_ref().map(|s| s.name.as_str()).unwrap_or(""),
                    identification.order
                ),
                format!(
                    "Bind an authenticator-validation stage between order {} and order {} (not_configured_action: skip lets accounts without devices through).",
                    identification.order, binding.order
                ),
            ));
        }
        if let Some(StageConfig::Password(password)) = config {
            if password.backends.is_empty() {
                findings.push(finding(
                    Severity::Error,
                    "password-no-backends",
                    binding,
                    "the password stage has no backends: it can never accept a password".into(),
                    "Add a backend to the stage, e.g. authentik.core.auth.InbuiltBackend.".into(),
                ));
            }
        }
        if let Some(StageConfig::Prompt(prompt_stage)) = config {
            for field_id in &prompt_stage.fields {
                let Some(field) = facts.prompts.get(field_id) else {
                    findings.push(finding(
                        Severity::Error,
                        "missing-prompt",
                        binding,
                        format!("the prompt stage lists prompt {field_id}, which does not exist"),
                        "Remove the field from the stage's fields, or recreate the prompt.".into(),
                    ));
                    continue;
                };
                match prompt_keys.get(&field.field_key) {
                    Some((first, first_stage, first_name)) => {
                        let same_stage = *first_stage == binding.stage_id;
                        findings.push(finding(
                            if same_stage { Severity::Error } else { Severity::Warning },
                            "duplicate-prompt-key",
                            binding,
                            format!(
                                "prompt field {:?} binds key {:?}, already bound by {:?} (order {}){}",
                                field.name,
                                field.field_key,
                                first_name,
                                first.order,
                                if same_stage {
                                    ": the form sends one value for both"
                                } else {
                                    ": the later answer overwrites the earlier one"
                                }
                            ),
                            format!(
                                "Rename one field's field_key, or remove {:?} from one of the prompt stages.",
                                field.name
                            ),
                        ));
                    }
                    None => {
                        prompt_keys.insert(
                            field.field_key.clone(),
                            (binding, binding.stage_id, field.name.clone()),
                        );
                    }
                }
            }
        }
    }
    findings
}

impl PendingUser {
    /// After a stage that may set the pending user.
    fn max_maybe(self) -> Self {
        match self {
            Self::Yes => Self::Yes,
            _ => Self::Maybe,
        }
    }
}

/// Hand-built traces for the linter's and the diagram's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::engine::trace::{Decision, StageInfo};

    pub fn trace(bindings: Vec<BindingTrace>) -> PlanTrace {
        PlanTrace {
            flow_id: Uuid::new_v4(),
            slug: "f".into(),
            name: "F".into(),
            designation: "authentication".into(),
            authentication: "none".into(),
            authentication_met: None,
            denied_action: "message_continue".into(),
            flow_policies: Some(GateSet::new(PolicyEngineMode::Any)),
            bindings,
            outcome: None,
        }
    }

    /// An ungated binding of a stage named `name` of `kind`, registered in `facts` with the
    /// kind's default configuration merged with `config`.
    pub fn binding(
        facts: &mut Facts,
        order: i32,
        name: &str,
        kind: &str,
        config: serde_json::Value,
    ) -> BindingTrace {
        let stage_id = Uuid::new_v4();
        let typed: StageConfig =
            serde_json::from_value(serde_json::json!({"kind": kind, "config": config}))
                .expect("stage config");
        facts.stages.insert(stage_id, typed);
        BindingTrace {
            binding_id: Uuid::new_v4(),
            order,
            stage_id,
            stage: Some(StageInfo {
                name: name.into(),
                kind: kind.into(),
                injects: Vec::new(),
            }),
            stage_error: None,
            evaluate_on_plan: true,
            re_evaluate_policies: false,
            invalid_response_action: "retry".into(),
            policies: GateSet::new(PolicyEngineMode::Any),
            decision: Decision::Included,
            on_fail_next: None,
        }
    }

    /// A gate for an expression policy registered in `facts`.
    pub fn expression_gate(facts: &mut Facts, name: &str, expression: &str, negate: bool) -> Gate {
        let id = Uuid::new_v4();
        facts.policies.insert(
            id,
            PolicyConfig::from_attrs("expression", serde_json::json!({"expression": expression}))
                .expect("policy"),
        );
        Gate {
            binding_id: Uuid::new_v4(),
            order: 0,
            subject: GateSubject::Policy {
                id,
                name: Some(name.into()),
                kind: Some("expression".into()),
            },
            negate,
            failure_result: false,
            timeout: 30,
            outcome: None,
        }
    }

    pub fn gated(
        mut binding: BindingTrace,
        mode: PolicyEngineMode,
        gates: Vec<Gate>,
    ) -> BindingTrace {
        binding.policies = GateSet {
            gates,
            ..GateSet::new(mode)
        };
        binding.decision = Decision::Undecided;
        binding
    }

    pub fn prompt(facts: &mut Facts, name: &str, key: &str) -> Uuid {
        let id = Uuid::new_v4();
        facts.prompts.insert(
            id,
            prompt::Model {
                id,
                name: name.into(),
                field_key: key.into(),
                label: name.into(),
                kind: "text".into(),
                required: true,
                placeholder: String::new(),
                initial_value: String::new(),
                sub_text: String::new(),
                order: 0,
                placeholder_expression: false,
                initial_value_expression: false,
            },
        );
        id
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use serde_json::json;

    fn rules(findings: &[Finding]) -> Vec<(&'static str, Severity, Option<i32>)> {
        findings
            .iter()
            .map(|f| (f.rule, f.severity, f.order))
            .collect()
    }

    #[test]
    fn constant_expressions_are_recognised_and_others_are_not() {
        assert_eq!(constant_expression("return False"), Some(false));
        assert_eq!(
            constant_expression("# never\n  return False  # no\n"),
            Some(false)
        );
        assert_eq!(constant_expression("return True"), Some(true));
        assert_eq!(constant_expression("return None"), Some(false));
        assert_eq!(
            constant_expression("return request.user.is_superuser"),
            None
        );
        assert_eq!(constant_expression("x = 1\nreturn False"), None);
        assert_eq!(constant_expression(""), None);
    }

    #[test]
    fn a_binding_gated_by_a_deny_everything_policy_never_runs() {
        let mut facts = Facts::default();
        let never = expression_gate(&mut facts, "nobody", "return False", false);
        let not_always = expression_gate(&mut facts, "everyone", "return True", true);
        let real = expression_gate(
            &mut facts,
            "admins",
            "return request.user.is_superuser",
            false,
        );
        let b1 = gated(
            binding(&mut facts, 10, "a", "deny", json!({})),
            PolicyEngineMode::Any,
            vec![never.clone()],
        );
        let b2 = gated(
            binding(&mut facts, 20, "b", "consent", json!({})),
            PolicyEngineMode::All,
            vec![real.clone(), not_always],
        );
        // Any: one real policy may pass, so the binding may run.
        let b3 = gated(
            binding(&mut facts, 30, "c", "consent", json!({})),
            PolicyEngineMode::Any,
            vec![never, real],
        );
        let findings = lint(&trace(vec![b1, b2, b3]), &facts);
        assert_eq!(
            rules(&findings),
            vec![
                ("never-runs", Severity::Error, Some(10)),
                ("never-runs", Severity::Error, Some(20))
            ]
        );
        assert!(
            findings[0].message.contains("nobody"),
            "{}",
            findings[0].message
        );
        assert!(findings[1].message.contains("NOT everyone"));
    }

    #[test]
    fn bindings_after_an_unconditional_deny_never_run_but_not_after_a_gated_one() {
        let mut facts = Facts::default();
        let admins = expression_gate(
            &mut facts,
            "admins",
            "return request.user.is_superuser",
            false,
        );
        let gated_deny = gated(
            binding(&mut facts, 10, "deny-some", "deny", json!({})),
            PolicyEngineMode::Any,
            vec![admins],
        );
        let after_gated = binding(&mut facts, 20, "consent", "consent", json!({}));
        let deny = binding(&mut facts, 30, "deny-all", "deny", json!({}));
        let after = binding(&mut facts, 40, "late", "consent", json!({}));
        let findings = lint(&trace(vec![gated_deny, after_gated, deny, after]), &facts);
        assert_eq!(
            rules(&findings),
            vec![("never-runs", Severity::Error, Some(40))]
        );
        assert!(findings[0].message.contains("\"deny-all\" (order 30)"));
        assert!(findings[0].fix.contains("before order 30"));
    }

    #[test]
    fn stages_needing_a_pending_user_before_any_stage_sets_one() {
        let mut facts = Facts::default();
        let login = binding(&mut facts, 10, "login", "user_login", json!({}));
        let findings = lint(&trace(vec![login]), &facts);
        assert_eq!(
            rules(&findings),
            vec![("pending-user-missing", Severity::Error, Some(10))]
        );
        assert!(findings[0].fix.contains("identification"));

        // After an identification stage: fine.
        let mut facts = Facts::default();
        let ident = binding(&mut facts, 10, "id", "identification", json!({}));
        let password = binding(&mut facts, 20, "pw", "password", json!({}));
        assert!(lint(&trace(vec![ident, password]), &facts).is_empty());

        // After an identification stage that may be skipped: a warning.
        let mut facts = Facts::default();
        let maybe = expression_gate(&mut facts, "maybe", "return context.get('x')", false);
        let ident = gated(
            binding(&mut facts, 10, "id", "identification", json!({})),
            PolicyEngineMode::Any,
            vec![maybe],
        );
        let email = binding(&mut facts, 20, "mail", "email", json!({}));
        assert_eq!(
            rules(&lint(&trace(vec![ident, email]), &facts)),
            vec![("pending-user-missing", Severity::Warning, Some(20))]
        );
    }

    #[test]
    fn user_login_after_identification_without_mfa_validation_is_a_bypass() {
        let mut facts = Facts::default();
        let ident = binding(&mut facts, 10, "id", "identification", json!({}));
        let password = binding(&mut facts, 20, "pw", "password", json!({}));
        let login = binding(&mut facts, 100, "login", "user_login", json!({}));
        let login_id = login.binding_id;
        let findings = lint(
            &trace(vec![ident.clone(), password.clone(), login.clone()]),
            &facts,
        );
        assert_eq!(
            rules(&findings),
            vec![("mfa-bypass", Severity::Error, Some(100))]
        );
        assert_eq!(findings[0].binding_id, Some(login_id));
        assert_eq!(findings[0].stage_name.as_deref(), Some("login"));
        assert!(findings[0].fix.contains("between order 10 and order 100"));

        // With validation on the way: fine.
        let validate = binding(&mut facts, 30, "mfa", "authenticator_validate", json!({}));
        assert!(lint(&trace(vec![ident, password, validate, login]), &facts).is_empty());

        // Enrollment: the account is created by the flow itself, it has no devices.
        let mut facts = Facts::default();
        let write = binding(&mut facts, 10, "write", "user_write", json!({}));
        let login = binding(&mut facts, 20, "login", "user_login", json!({}));
        assert!(lint(&trace(vec![write, login]), &facts).is_empty());
    }

    #[test]
    fn a_binding_to_a_missing_stage_is_an_error() {
        let mut facts = Facts::default();
        let mut broken = binding(&mut facts, 10, "gone", "deny", json!({}));
        broken.stage = None;
        broken.stage_error = Some("the stage does not exist".into());
        let findings = lint(&trace(vec![broken]), &facts);
        assert_eq!(
            rules(&findings),
            vec![("missing-stage", Severity::Error, Some(10))]
        );
        assert!(findings[0].message.contains("does not exist"));
    }

    #[test]
    fn prompt_fields_bound_twice_under_one_key() {
        let mut facts = Facts::default();
        let email = prompt(&mut facts, "email", "email");
        let email_again = prompt(&mut facts, "email-2", "email");
        let name = prompt(&mut facts, "name", "name");
        let first = binding(
            &mut facts,
            10,
            "p1",
            "prompt",
            json!({"fields": [email, name]}),
        );
        let second = binding(
            &mut facts,
            20,
            "p2",
            "prompt",
            json!({"fields": [email_again]}),
        );
        let findings = lint(&trace(vec![first, second]), &facts);
        assert_eq!(
            rules(&findings),
            vec![("duplicate-prompt-key", Severity::Warning, Some(20))]
        );
        assert!(findings[0].message.contains("\"email\""));

        // Within one stage the form itself is broken: an error.
        let mut facts = Facts::default();
        let a = prompt(&mut facts, "a", "username");
        let b = prompt(&mut facts, "b", "username");
        let both = binding(&mut facts, 10, "p", "prompt", json!({"fields": [a, b]}));
        assert_eq!(
            rules(&lint(&trace(vec![both]), &facts)),
            vec![("duplicate-prompt-key", Severity::Error, Some(10))]
        );

        // A listed prompt that does not exist.
        let mut facts = Facts::default();
        let ghost = binding(
            &mut facts,
            10,
            "p",
            "prompt",
            json!({"fields": [Uuid::new_v4()]}),
        );
        assert_eq!(
            rules(&lint(&trace(vec![ghost]), &facts)),
            vec![("missing-prompt", Severity::Error, Some(10))]
        );
    }

    #[test]
    fn a_password_stage_without_backends_is_an_error() {
        let mut facts = Facts::default();
        let ident = binding(&mut facts, 10, "id", "identification", json!({}));
        let none = binding(&mut facts, 20, "pw", "password", json!({"backends": []}));
        let some = binding(&mut facts, 30, "pw2", "password", json!({}));
        assert_eq!(
            rules(&lint(&trace(vec![ident, none, some]), &facts)),
            vec![("password-no-backends", Severity::Error, Some(20))]
        );
    }

    #[test]
    fn policies_that_are_never_checked_are_a_warning() {
        let mut facts = Facts::default();
        let admins = expression_gate(
            &mut facts,
            "admins",
            "return request.user.is_superuser",
            false,
        );
        let mut b = gated(
            binding(&mut facts, 10, "c", "consent", json!({})),
            PolicyEngineMode::Any,
            vec![admins],
        );
        b.evaluate_on_plan = false;
        b.re_evaluate_policies = false;
        let findings = lint(&trace(vec![b]), &facts);
        assert_eq!(
            rules(&findings),
            vec![("policies-never-checked", Severity::Warning, Some(10))]
        );
    }

    #[test]
    fn flow_policies_that_never_pass_are_one_error() {
        let mut facts = Facts::default();
        let never = expression_gate(&mut facts, "nobody", "return False", false);
        let login = binding(&mut facts, 10, "login", "user_login", json!({}));
        let mut t = trace(vec![login]);
        t.flow_policies = Some(GateSet {
            gates: vec![never],
            ..GateSet::new(PolicyEngineMode::Any)
        });
        let report = LintReport::new("f".into(), lint(&t, &facts));
        assert_eq!(
            rules(&report.findings),
            vec![("never-runs", Severity::Error, None)]
        );
        assert_eq!((report.errors, report.warnings), (1, 0));
        assert!(report.to_text().contains("error[never-runs] flow:"));
    }
}
