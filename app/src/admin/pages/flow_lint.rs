//! The editor's "Linter" tab: the `lint` action's findings for the flow, each with the binding
//! it names and how to fix it (the same report `keyflow flow lint SLUG` prints).

use leptos::prelude::*;
use serde_json::json;

use super::flow_editor::use_flow;
use crate::admin::api;
use crate::admin::flow_tools::{Finding, LintReport};
use crate::admin::model::collection;

#[component]
pub fn LintTab() -> impl IntoView {
    let cx = use_flow();
    let report = Resource::new(
        move || (cx.slug.get(), cx.version.get(), cx.bindings_version.get()),
        |(slug, _, _)| async move {
            api::action::<LintReport>(collection::FLOWS, Some(&slug), "lint", json!({})).await
        },
    );
    view! {
        <section class="admin-card" aria-labelledby="lint-heading">
            <h2 id="lint-heading">"Linter"</h2>
            <p class="help">
                "Mistakes that make a flow behave differently from what its bindings suggest. The same checks run as "
                <code>"keyflow flow lint SLUG"</code> "."
            </p>
            <Transition fallback=|| view! { <p class="muted">"Checking the flow…"</p> }>
                {move || Suspend::new(async move {
                    match report.await {
                        Ok(report) => view! { <LintFindings report/> }.into_any(),
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn LintFindings(report: LintReport) -> impl IntoView {
    let summary = format!(
        "{} error(s), {} warning(s).",
        report.errors, report.warnings
    );
    if report.findings.is_empty() {
        return view! { <p class="lint-clean" data-testid="lint-summary">"No problems found."</p> }
            .into_any();
    }
    view! {
        <p data-testid="lint-summary" role="status">{summary}</p>
        <ul class="lint-findings" data-testid="lint-findings">
            {report.findings.into_iter().map(|finding| view! { <LintFinding finding/> }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn LintFinding(finding: Finding) -> impl IntoView {
    let place = match (finding.order, finding.stage_name.as_deref()) {
        (Some(order), Some(name)) => format!("Binding {order} (stage “{name}”)"),
        (Some(order), None) => format!("Binding {order}"),
        _ => "The flow".to_owned(),
    };
    let class = format!("lint-finding {}", finding.severity);
    let severity = if finding.severity == "error" {
        "Error"
    } else {
        "Warning"
    };
    let rule = finding.rule.clone();
    view! {
        <li class=class data-testid="lint-finding" data-rule=rule>
            <p>
                <strong>{severity}</strong>
                " "
                <code>{finding.rule}</code>
                " · "
                {place}
            </p>
            <p>{finding.message}</p>
            <p class="help">"How to fix: " {finding.fix}</p>
        </li>
    }
}
