//! The editor's "Simulator" tab: a dry run of the flow (the `simulate` action) for a user (or
//! nobody) and starting context. It shows the plan the planner would build, every policy's
//! result with its messages and timing, and the stages that would run, without logging anyone
//! in or writing anything.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde_json::{json, Value};

use super::flow_editor::use_flow;
use crate::admin::api::{self, AdminFnError};
use crate::admin::flow_tools::{GateSet, Simulation};
use crate::admin::model::collection;
use crate::admin::widgets::{FieldError, FormAlert, FormError, TextInput};

#[component]
pub fn SimulateTab() -> impl IntoView {
    let cx = use_flow();
    let user = RwSignal::new(String::new());
    let client_ip = RwSignal::new(String::new());
    let context = RwSignal::new(String::new());
    let error: FormError = RwSignal::new(None);
    let run = Action::new(move |(slug, body): &(String, Value)| {
        let (slug, body) = (slug.clone(), body.clone());
        async move { api::action::<Simulation>(collection::FLOWS, Some(&slug), "simulate", body).await }
    });
    Effect::new(move |_| {
        if let Some(Err(e)) = run.value().get() {
            error.set(Some(e));
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = context.get();
        let context_value = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(value) => value,
                Err(e) => {
                    error.set(Some(AdminFnError::Invalid(BTreeMap::from([(
                        "context".to_owned(),
                        vec![format!("Not valid JSON: {e}.")],
                    )]))));
                    return;
                }
            }
        };
        error.set(None);
        let name = user.get().trim().to_owned();
        let ip = client_ip.get().trim().to_owned();
        let body = json!({
            "user": if name.is_empty() { Value::Null } else { json!(name) },
            "client_ip": if ip.is_empty() { Value::Null } else { json!(ip) },
            "context": context_value,
        });
        run.dispatch((cx.slug.get_untracked(), body));
    };
    view! {
        <section class="admin-card" aria-labelledby="simulate-heading">
            <h2 id="simulate-heading">"Simulator"</h2>
            <p class="help">
                "A dry run: the plan this flow would build for the person below, with every policy's result. Nobody is logged in and nothing is written."
            </p>
            <form on:submit=submit data-testid="simulate-form">
                <TextInput
                    label="User (username; empty for an anonymous visitor)"
                    field="user"
                    value=user
                    error
                    id_prefix="simulate-"
                />
                <TextInput
                    label="Client IP address (default 127.0.0.1)"
                    field="client_ip"
                    value=client_ip
                    error
                    id_prefix="simulate-"
                />
                <div class="form-row">
                    <label for="simulate-context">"Context (JSON, e.g. {\"prompt_data\": {\"email\": \"a@b.c\"}})"</label>
                    <textarea
                        id="simulate-context"
                        rows="4"
                        class="code"
                        spellcheck="false"
                        aria-describedby="simulate-context-error"
                        prop:value=move || context.get()
                        on:input=move |ev| context.set(event_target_value(&ev))
                    ></textarea>
                    <FieldError error field="context" id="simulate-context"/>
                </div>
                <FormAlert error fields=&["user", "client_ip", "context"]/>
                <button type="submit" class="button primary">"Simulate"</button>
            </form>
            {move || match run.value().get() {
                Some(Ok(simulation)) => view! { <SimulationView simulation/> }.into_any(),
                _ => ().into_any(),
            }}
        </section>
    }
}

/// "passes", "fails" or "not evaluated".
fn verdict(passing: Option<bool>) -> &'static str {
    match passing {
        Some(true) => "passes",
        Some(false) => "fails",
        None => "not evaluated",
    }
}

#[component]
fn SimulationView(simulation: Simulation) -> impl IntoView {
    let who = simulation
        .user
        .clone()
        .map_or_else(|| "an anonymous visitor".to_owned(), |u| format!("“{u}”"));
    let headline = match simulation.outcome.as_str() {
        "plan" => format!(
            "For {who}, the flow would run {} stage(s).",
            simulation.stages.len()
        ),
        "empty" => format!("For {who}, the flow would run no stage at all."),
        _ => format!(
            "For {who}, the flow does not apply: {}",
            simulation.message.clone().unwrap_or_default()
        ),
    };
    let requirement = format!(
        "Requirement “{}”: {}.",
        simulation.trace.authentication,
        match simulation.trace.authentication_met {
            Some(true) => "met",
            Some(false) => "not met",
            None => "not checked",
        }
    );
    let timing = format!("Planned in {:.2} ms.", simulation.duration_ms);
    let writes = simulation.skipped_writes.clone();
    view! {
        <div class="simulation" data-testid="simulation">
            <p role="status" data-testid="simulation-outcome"><strong>{headline}</strong></p>
            <p>{requirement} " " <span class="muted">{timing}</span></p>
            {simulation
                .trace
                .flow_policies
                .clone()
                .filter(|set| !set.gates.is_empty())
                .map(|set| view! { <h3>"Flow policies"</h3> <Gates set/> })}
            <h3>"Stages that would run"</h3>
            <ol data-testid="simulated-stages">
                {simulation
                    .stages
                    .iter()
                    .map(|s| {
                        let name = s.stage_name.clone().unwrap_or_else(|| "(missing stage)".into());
                        let kind = s.stage_kind.clone().unwrap_or_default();
                        let later = s
                            .when_current
                            .clone()
                            .map(|set| {
                                view! {
                                    <p class="help">
                                        "Checked again when it becomes current; with the starting context it "
                                        {verdict(set.passing)} "."
                                    </p>
                                }
                            });
                        view! {
                            <li data-testid="simulated-stage">
                                <strong>{name}</strong> " " <span class="muted">{kind}</span> {later}
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
            <h3>"Every binding"</h3>
            <table class="admin-table" data-testid="simulated-bindings">
                <thead>
                    <tr>
                        <th scope="col">"Order"</th>
                        <th scope="col">"Stage"</th>
                        <th scope="col">"Decision"</th>
                        <th scope="col">"Policies"</th>
                    </tr>
                </thead>
                <tbody>
                    {simulation
                        .trace
                        .bindings
                        .into_iter()
                        .map(|b| {
                            let name = b
                                .stage
                                .as_ref()
                                .map(|s| s.name.clone())
                                .or(b.stage_error.clone())
                                .unwrap_or_default();
                            let decision = match b.decision.as_str() {
                                "included" => "runs",
                                "skipped" => "skipped (its policies failed)",
                                other => other,
                            }
                                .to_owned();
                            let set = b.policies.clone();
                            view! {
                                <tr>
                                    <td>{b.order}</td>
                                    <td>{name}</td>
                                    <td>{decision}</td>
                                    <td><Gates set/></td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            {(!writes.is_empty())
                .then(|| {
                    view! {
                        <h3>"Writes not made"</h3>
                        <ul>{writes.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}</ul>
                    }
                })}
        </div>
    }
}

/// A set of policy gates with each result, its messages and timing.
#[component]
fn Gates(set: GateSet) -> impl IntoView {
    if set.gates.is_empty() {
        return view! { <span class="muted">"none"</span> }.into_any();
    }
    let combined = format!("{} ({} must pass)", verdict(set.passing), set.mode);
    view! {
        <ul class="gates">
            {set
                .gates
                .into_iter()
                .map(|gate| {
                    let label = gate.label();
                    let result = gate.outcome.map(|o| {
                        let mut text = format!(
                            "{} in {:.2} ms",
                            if o.passing { "passes" } else { "fails" },
                            o.duration_ms
                        );
                        if let Some(error) = o.error {
                            text.push_str(&format!(" (error: {error})"));
                        }
                        if !o.messages.is_empty() {
                            text.push_str(&format!(" — {}", o.messages.join(" ")));
                        }
                        text
                    });
                    view! {
                        <li data-testid="gate">
                            {label} ": " {result.unwrap_or_else(|| "not evaluated".into())}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
        <p class="help">"Together: " {combined}</p>
    }
    .into_any()
}
