//! The flow diagram (issue #14), drawn from the planner's static trace
//! ([`planner::Subject::Static`]): the function that builds plans decides which boxes and arrows
//! exist, so the drawing cannot disagree with execution. Every binding is a node; a binding whose
//! policies decide (at plan time or when it becomes current) gets a gate node in front, whose
//! failing edge skips to the next binding. The flow's requirement and policies fail to "access
//! denied" (per `denied_action`). Stages a stage may inject (authenticator validation's
//! "configure") hang off it.
//!
//! [`Diagram`] is the model the admin UI renders (each node a focusable element with its text
//! label); [`mermaid`] is authentik's `FlowDiagram.diagram` text.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

use crate::engine::{
    context::FlowContext,
    planner::{self, Subject},
    trace::{BindingTrace, GateSet, GateSubject, PlanTrace},
    EngineError, EngineServices,
};
use crate::store::flow;

#[derive(Debug, Error)]
pub enum DiagramError {
    #[error("flow not found")]
    FlowNotFound,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<sea_orm::DbErr> for DiagramError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Engine(error.into())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Start,
    /// The flow's authentication requirement.
    Requirement,
    /// The flow's own policies.
    FlowPolicies,
    /// A binding's policies.
    Gate,
    Stage,
    /// A stage put into the plan by the stage before it.
    Injected,
    Done,
    Denied,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// Stable within a flow (`stage_<binding uuid>` …), usable as an HTML id.
    pub id: String,
    pub kind: NodeKind,
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_id: Option<Uuid>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// Goes on unconditionally.
    Next,
    /// Taken when the gate passes.
    Pass,
    /// Taken when the gate fails.
    Fail,
    /// The stage may inject the target.
    Inject,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
    pub label: Option<String>,
}

/// Nodes in reading order, and the arrows between them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Diagram {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// The static trace of flow `slug`.
pub async fn static_trace(
    services: &EngineServices,
    slug: &str,
) -> Result<PlanTrace, DiagramError> {
    let flow = flow::Entity::find()
        .filter(flow::Column::Slug.eq(slug))
        .one(&services.db)
        .await?
        .ok_or(DiagramError::FlowNotFound)?;
    let (_, trace) =
        planner::trace(services, &flow, Subject::Static, FlowContext::default()).await?;
    Ok(trace)
}

/// The diagram of flow `slug`.
pub async fn for_flow(services: &EngineServices, slug: &str) -> Result<Diagram, DiagramError> {
    Ok(build(&static_trace(services, slug).await?))
}

const START: &str = "flow_start";
const REQUIREMENT: &str = "flow_requirement";
const FLOW_POLICIES: &str = "flow_policies";
const DONE: &str = "flow_done";
const DENIED: &str = "flow_denied";

fn simple(id: Uuid) -> String {
    id.simple().to_string()
}

fn stage_node(binding: &BindingTrace) -> String {
    format!("stage_{}", simple(binding.binding_id))
}

fn gate_node(binding: &BindingTrace) -> String {
    format!("gate_{}", simple(binding.binding_id))
}

/// Where control enters a binding: its gate, if it has one that decides.
fn entry(binding: Option<&BindingTrace>) -> String {
    match binding {
        Some(b) if b.is_gated() => gate_node(b),
        Some(b) => stage_node(b),
        None => DONE.to_owned(),
    }
}

/// `"name"`, `"NOT name"`, `"group admins"` …
pub fn gate_label(subject: &GateSubject, negate: bool) -> String {
    let text = match subject {
        GateSubject::Policy { name, id, .. } => match name {
            Some(name) => name.clone(),
            None => format!("missing policy {id}"),
        },
        GateSubject::Group { name, id } => {
            format!("group {}", name.clone().unwrap_or_else(|| id.to_string()))
        }
        GateSubject::User { username, id } => {
            format!(
                "user {}",
                username.clone().unwrap_or_else(|| id.to_string())
            )
        }
        GateSubject::Nothing => "empty binding".to_owned(),
    };
    if negate {
        format!("NOT {text}")
    } else {
        text
    }
}

fn gates_text(set: &GateSet) -> String {
    let names: Vec<String> = set
        .gates
        .iter()
        .map(|g| gate_label(&g.subject, g.negate))
        .collect();
    format!(
        "{} of: {}",
        crate::flows::stored(&set.mode),
        names.join(", ")
    )
}

/// When a binding's policies are checked, in words.
fn when_checked(binding: &BindingTrace) -> &'static str {
    match (binding.evaluate_on_plan, binding.re_evaluate_policies) {
        (true, true) => "on plan and when current",
        (true, false) => "on plan",
        (false, true) => "when current",
        (false, false) => "never",
    }
}

/// Builds the diagram from a trace (static or evaluated: only the shape is used).
pub fn build(trace: &PlanTrace) -> Diagram {
    let mut d = Diagram::default();
    let node = |d: &mut Diagram, id: &str, kind, label: String, binding_id| {
        d.nodes.push(Node {
            id: id.to_owned(),
            kind,
            label,
            binding_id,
        });
    };
    let edge = |d: &mut Diagram, from: &str, to: &str, kind, label: Option<String>| {
        d.edges.push(Edge {
            from: from.to_owned(),
            to: to.to_owned(),
            kind,
            label,
        });
    };
    node(
        &mut d,
        START,
        NodeKind::Start,
        format!("Flow {} ({})", trace.name, trace.slug),
        None,
    );
    let denied_label = format!("denied_action: {}", trace.denied_action);
    let mut denied_used = false;
    let mut current = START.to_owned();
    let mut pending: (EdgeKind, Option<String>) = (EdgeKind::Next, None);
    if trace.authentication != "none" {
        node(
            &mut d,
            REQUIREMENT,
            NodeKind::Requirement,
            format!("Requires: {}", trace.authentication),
            None,
        );
        edge(&mut d, &current, REQUIREMENT, EdgeKind::Next, None);
        edge(
            &mut d,
            REQUIREMENT,
            DENIED,
            EdgeKind::Fail,
            Some(format!("not met ({denied_label})")),
        );
        denied_used = true;
        current = REQUIREMENT.to_owned();
        pending = (EdgeKind::Pass, Some("met".to_owned()));
    }
    if let Some(set) = trace.flow_policies.as_ref().filter(|s| !s.gates.is_empty()) {
        node(
            &mut d,
            FLOW_POLICIES,
            NodeKind::FlowPolicies,
            format!("Flow policies ({})", gates_text(set)),
            None,
        );
        edge(&mut d, &current, FLOW_POLICIES, pending.0, pending.1.take());
        edge(
            &mut d,
            FLOW_POLICIES,
            DENIED,
            EdgeKind::Fail,
            Some(format!("fail ({denied_label})")),
        );
        denied_used = true;
        current = FLOW_POLICIES.to_owned();
        pending = (EdgeKind::Pass, Some("pass".to_owned()));
    }
    edge(
        &mut d,
        &current,
        &entry(trace.bindings.first()),
        pending.0,
        pending.1,
    );

    for (index, binding) in trace.bindings.iter().enumerate() {
        let next = entry(trace.bindings.get(index + 1));
        let stage_id = stage_node(binding);
        if binding.is_gated() {
            let gate_id = gate_node(binding);
            node(
                &mut d,
                &gate_id,
                NodeKind::Gate,
                format!(
                    "Policies {} ({})",
                    when_checked(binding),
                    gates_text(&binding.policies)
                ),
                Some(binding.binding_id),
            );
            edge(
                &mut d,
                &gate_id,
                &stage_id,
                EdgeKind::Pass,
                Some("pass".into()),
            );
            edge(
                &mut d,
                &gate_id,
                &next,
                EdgeKind::Fail,
                Some("fail: skip".into()),
            );
        }
        let label = match &binding.stage {
            Some(stage) => format!("{}. {} ({})", binding.order, stage.name, stage.kind),
            None => format!(
                "{}. missing stage {} ({})",
                binding.order,
                binding.stage_id,
                binding.stage_error.as_deref().unwrap_or("unreadable")
            ),
        };
        node(
            &mut d,
            &stage_id,
            NodeKind::Stage,
            label,
            Some(binding.binding_id),
        );
        match &binding.stage {
            None => {
                edge(
                    &mut d,
                    &stage_id,
                    DENIED,
                    EdgeKind::Next,
                    Some("fails".into()),
                );
                denied_used = true;
            }
            Some(stage) if stage.kind == "deny" => {
                edge(
                    &mut d,
                    &stage_id,
                    DENIED,
                    EdgeKind::Next,
                    Some("denies".into()),
                );
                denied_used = true;
            }
            Some(stage) => {
                edge(&mut d, &stage_id, &next, EdgeKind::Next, None);
                for injected in &stage.injects {
                    let id = format!(
                        "inject_{}_{}",
                        simple(binding.binding_id),
                        simple(injected.stage_id)
                    );
                    let name = injected
                        .stage_name
                        .clone()
                        .unwrap_or_else(|| format!("missing stage {}", injected.stage_id));
                    let kind = injected.stage_kind.as_deref().unwrap_or("?");
                    node(
                        &mut d,
                        &id,
                        NodeKind::Injected,
                        format!("{name} ({kind}), injected"),
                        Some(binding.binding_id),
                    );
                    edge(
                        &mut d,
                        &stage_id,
                        &id,
                        EdgeKind::Inject,
                        Some(injected.when.clone()),
                    );
                    edge(&mut d, &id, &next, EdgeKind::Next, None);
                }
            }
        }
    }
    node(&mut d, DONE, NodeKind::Done, "Flow done".into(), None);
    if denied_used {
        node(
            &mut d,
            DENIED,
            NodeKind::Denied,
            "Access denied".into(),
            None,
        );
    }
    d
}

/// Text safe inside a mermaid `"…"` label.
fn escape(label: &str) -> String {
    label
        .replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\n', " ")
}

/// authentik's `FlowDiagram.diagram`: a mermaid `graph TD`.
pub fn mermaid(diagram: &Diagram) -> String {
    let mut out = String::from("graph TD\n");
    for node in &diagram.nodes {
        let label = escape(&node.label);
        let shape = match node.kind {
            NodeKind::Start => format!("[[\"{label}\"]]"),
            NodeKind::Requirement | NodeKind::FlowPolicies | NodeKind::Gate => {
                format!("{{\"{label}\"}}")
            }
            NodeKind::Stage => format!("[\"{label}\"]"),
            NodeKind::Injected => format!("[/\"{label}\"/]"),
            NodeKind::Done | NodeKind::Denied => format!("((\"{label}\"))"),
        };
        out.push_str(&format!("{}{}\n", node.id, shape));
    }
    for edge in &diagram.edges {
        let arrow = match edge.kind {
            EdgeKind::Inject => "-.->",
            _ => "-->",
        };
        match &edge.label {
            Some(label) => out.push_str(&format!(
                "{} {arrow}|\"{}\"| {}\n",
                edge.from,
                escape(label),
                edge.to
            )),
            None => out.push_str(&format!("{} {arrow} {}\n", edge.from, edge.to)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::lint::{fixtures::*, Facts};
    use crate::engine::trace::Injection;
    use crate::flows::PolicyEngineMode;
    use serde_json::json;

    fn edge_set(d: &Diagram) -> Vec<(String, String, EdgeKind, Option<String>)> {
        d.edges
            .iter()
            .map(|e| (e.from.clone(), e.to.clone(), e.kind, e.label.clone()))
            .collect()
    }

    /// Every edge joins two drawn nodes, and node ids are unique.
    fn assert_consistent(d: &Diagram) {
        let ids: std::collections::HashSet<&str> = d.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids.len(), d.nodes.len(), "duplicate node ids");
        for e in &d.edges {
            assert!(
                ids.contains(e.from.as_str()),
                "edge from unknown {}",
                e.from
            );
            assert!(ids.contains(e.to.as_str()), "edge to unknown {}", e.to);
        }
    }

    #[test]
    fn a_gated_binding_passes_to_its_stage_and_fails_to_the_next_binding() {
        let mut facts = Facts::default();
        let admins = expression_gate(&mut facts, "admins", "return x", true);
        let first = gated(
            binding(&mut facts, 10, "consent", "consent", json!({})),
            PolicyEngineMode::All,
            vec![admins],
        );
        let second = binding(&mut facts, 20, "login", "user_login", json!({}));
        let (g, s1, s2) = (gate_node(&first), stage_node(&first), stage_node(&second));
        let d = build(&trace(vec![first, second]));
        assert_consistent(&d);
        let gate = d.nodes.iter().find(|n| n.id == g).expect("gate node");
        assert_eq!(gate.kind, NodeKind::Gate);
        assert_eq!(gate.label, "Policies on plan (all of: NOT admins)");
        let edges = edge_set(&d);
        assert_eq!(
            edges,
            vec![
                (START.into(), g.clone(), EdgeKind::Next, None),
                (g.clone(), s1.clone(), EdgeKind::Pass, Some("pass".into())),
                (g, s2.clone(), EdgeKind::Fail, Some("fail: skip".into())),
                (s1, s2.clone(), EdgeKind::Next, None),
                (s2, DONE.into(), EdgeKind::Next, None),
            ]
        );
        // No flow-level refusal and no deny stage: nothing leads to "access denied".
        assert!(d.nodes.iter().all(|n| n.kind != NodeKind::Denied));
    }

    #[test]
    fn requirement_and_flow_policies_fail_to_access_denied_per_denied_action() {
        let mut facts = Facts::default();
        let gate = expression_gate(&mut facts, "office-ip", "return x", false);
        let only = binding(&mut facts, 10, "deny", "deny", json!({}));
        let s = stage_node(&only);
        let mut t = trace(vec![only]);
        t.authentication = "require_unauthenticated".into();
        t.denied_action = "message".into();
        t.flow_policies = Some(GateSet {
            gates: vec![gate],
            ..GateSet::new(PolicyEngineMode::Any)
        });
        let d = build(&t);
        assert_consistent(&d);
        let edges = edge_set(&d);
        assert!(edges.contains(&(
            REQUIREMENT.into(),
            DENIED.into(),
            EdgeKind::Fail,
            Some("not met (denied_action: message)".into())
        )));
        assert!(edges.contains(&(
            REQUIREMENT.into(),
            FLOW_POLICIES.into(),
            EdgeKind::Pass,
            Some("met".into())
        )));
        assert!(edges.contains(&(
            FLOW_POLICIES.into(),
            DENIED.into(),
            EdgeKind::Fail,
            Some("fail (denied_action: message)".into())
        )));
        assert!(edges.contains(&(
            FLOW_POLICIES.into(),
            s.clone(),
            EdgeKind::Pass,
            Some("pass".into())
        )));
        // A deny stage ends the flow.
        assert!(edges.contains(&(s, DENIED.into(), EdgeKind::Next, Some("denies".into()))));
        let label = &d
            .nodes
            .iter()
            .find(|n| n.id == FLOW_POLICIES)
            .expect("node")
            .label;
        assert_eq!(label, "Flow policies (any of: office-ip)");
    }

    #[test]
    fn injected_stages_hang_off_the_stage_that_injects_them() {
        let mut facts = Facts::default();
        let mut validate = binding(&mut facts, 10, "mfa", "authenticator_validate", json!({}));
        let totp = Uuid::new_v4();
        if let Some(stage) = validate.stage.as_mut() {
            stage.injects.push(Injection {
                stage_id: totp,
                stage_name: Some("totp-setup".into()),
                stage_kind: Some("authenticator_totp".into()),
                when: "no device".into(),
            });
        }
        let s = stage_node(&validate);
        let d = build(&trace(vec![validate]));
        assert_consistent(&d);
        let injected = d
            .nodes
            .iter()
            .find(|n| n.kind == NodeKind::Injected)
            .expect("injected node");
        assert_eq!(injected.label, "totp-setup (authenticator_totp), injected");
        let edges = edge_set(&d);
        assert!(edges.contains(&(
            s,
            injected.id.clone(),
            EdgeKind::Inject,
            Some("no device".into())
        )));
        assert!(edges.contains(&(injected.id.clone(), DONE.into(), EdgeKind::Next, None)));
    }

    #[test]
    fn mermaid_text_has_every_node_and_edge_with_escaped_labels() {
        let mut facts = Facts::default();
        let mut b = binding(&mut facts, 10, "say \"hi\"", "consent", json!({}));
        b.order = 10;
        let d = build(&trace(vec![b.clone()]));
        let text = mermaid(&d);
        assert!(text.starts_with("graph TD\n"));
        assert!(text.contains(&format!(
            "{}[\"10. say #quot;hi#quot; (consent)\"]",
            stage_node(&b)
        )));
        assert!(text.contains(&format!("{START} --> {}", stage_node(&b))));
        assert!(text.contains(&format!("{} --> {DONE}", stage_node(&b))));
        assert_eq!(text.lines().count(), 1 + d.nodes.len() + d.edges.len());
    }
}
