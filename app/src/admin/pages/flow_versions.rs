//! The editor's "Versions" tab: every saved change of the flow (its fields, bindings and their
//! policies; blueprint applies too) with author and time, a line diff between any two, and a
//! rollback (itself a new version) after a confirmation.

use leptos::prelude::*;
use serde_json::json;

use super::flow_editor::use_flow;
use crate::admin::api;
use crate::admin::flow_tools::{FlowVersion, VersionDiff};
use crate::admin::model::collection;
use crate::admin::widgets::{ConfirmButton, FormAlert, FormError};

#[component]
pub fn VersionsTab() -> impl IntoView {
    let cx = use_flow();
    // Here, not in the list: the list is rebuilt after a rollback, the announcement stays.
    let announce = RwSignal::new(String::new());
    let versions = Resource::new(
        move || (cx.slug.get(), cx.version.get(), cx.bindings_version.get()),
        |(slug, _, _)| async move {
            api::action::<Vec<FlowVersion>>(collection::FLOWS, Some(&slug), "versions", json!({}))
                .await
        },
    );
    view! {
        <section class="admin-card" aria-labelledby="versions-heading">
            <h2 id="versions-heading">"Versions"</h2>
            <p class="help">
                "Every saved change of this flow. Rolling back restores a version as a new one, so nothing is lost."
            </p>
            <p class="visually-hidden" aria-live="polite" data-testid="rollback-status">
                {move || announce.get()}
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading versions…"</p> }>
                {move || Suspend::new(async move {
                    match versions.await {
                        Ok(rows) if rows.is_empty() => view! { <p>"No versions yet."</p> }.into_any(),
                        Ok(rows) => view! { <VersionList rows announce/> }.into_any(),
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn VersionList(rows: Vec<FlowVersion>, announce: RwSignal<String>) -> impl IntoView {
    let cx = use_flow();
    let error: FormError = RwSignal::new(None);
    let newest = rows.first().map_or(0, |v| v.number);
    let older = rows.get(1).map_or(newest, |v| v.number);
    let from = RwSignal::new(older.to_string());
    let to = RwSignal::new(newest.to_string());
    let diff = Resource::new(
        move || (cx.slug.get(), from.get(), to.get()),
        |(slug, from, to)| async move {
            api::action::<VersionDiff>(
                collection::FLOWS,
                Some(&slug),
                "versions/diff",
                json!({ "from": from, "to": to }),
            )
            .await
        },
    );
    let rollback = Action::new(move |number: &i32| {
        let (slug, number) = (cx.slug.get_untracked(), *number);
        async move {
            api::action::<FlowVersion>(
                collection::FLOWS,
                Some(&slug),
                "versions/rollback",
                json!({ "number": number }),
            )
            .await
        }
    });
    Effect::new(move |_| match rollback.value().get() {
        Some(Ok(version)) => {
            announce.set(format!("Rolled back: {}.", version.summary));
            error.set(None);
            cx.changed();
            cx.bindings_changed();
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let options = rows
        .iter()
        .map(|v| {
            (
                v.number.to_string(),
                format!("{} — {}", v.number, v.summary),
            )
        })
        .collect::<Vec<_>>();
    let select = move |id: &'static str, label: &'static str, value: RwSignal<String>| {
        let options = options.clone();
        view! {
            <div class="form-row inline">
                <label for=id>{label}</label>
                <select id=id on:change=move |ev| value.set(event_target_value(&ev))>
                    {options
                        .into_iter()
                        .map(|(number, text)| {
                            let selected = value.get_untracked() == number;
                            view! { <option value=number selected=selected>{text}</option> }
                        })
                        .collect_view()}
                </select>
            </div>
        }
    };
    view! {
        <FormAlert error/>
        <table class="admin-table" data-testid="versions">
            <thead>
                <tr>
                    <th scope="col">"Version"</th>
                    <th scope="col">"Change"</th>
                    <th scope="col">"Author"</th>
                    <th scope="col">"Time"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .iter()
                    .map(|v| {
                        let number = v.number;
                        let button = (number != newest)
                            .then(|| {
                                view! {
                                    <RollbackButton number on_confirm=Callback::new(move |()| {
                                        rollback.dispatch(number);
                                    })/>
                                }
                            });
                        view! {
                            <tr data-testid="version">
                                <td>{number}</td>
                                <td>{v.summary.clone()}</td>
                                <td>{v.author.clone()}</td>
                                <td><time datetime=v.created.clone()>{v.created.clone()}</time></td>
                                <td>{button}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        <h3>"Compare two versions"</h3>
        <div class="toolbar">
            {select("diff-from", "From", from)}
            {select("diff-to", "To", to)}
        </div>
        <Transition fallback=|| view! { <p class="muted">"Comparing…"</p> }>
            {move || Suspend::new(async move {
                match diff.await {
                    Ok(d) if !d.diff.lines().any(|l| l.starts_with('+') || l.starts_with('-')) => {
                        view! { <p data-testid="version-diff">"No differences."</p> }.into_any()
                    }
                    Ok(d) => view! { <DiffView text=d.diff/> }.into_any(),
                    Err(e) => crate::admin::widgets::failure(&e).into_any(),
                }
            })}
        </Transition>
    }
}

/// A line diff (`+`/`-`/` ` prefixed lines), coloured per line.
#[component]
fn DiffView(text: String) -> impl IntoView {
    view! {
        <pre class="diff" data-testid="version-diff">
            {text
                .lines()
                .map(|line| {
                    let class = match line.chars().next() {
                        Some('+') => "diff-add",
                        Some('-') => "diff-del",
                        _ => "diff-same",
                    };
                    view! { <span class=class>{format!("{line}\n")}</span> }
                })
                .collect_view()}
        </pre>
    }
}

/// "Roll back" with a confirmation.
#[component]
fn RollbackButton(number: i32, on_confirm: Callback<()>) -> impl IntoView {
    view! {
        <ConfirmButton
            label="Roll back"
            aria_label=format!("Roll back to version {number}")
            question=format!("Restore version {number}? The current state stays as a version.")
            confirm_label="Yes, roll back"
            group_label="Confirm rollback"
            trigger_class="button"
            confirm_class="button primary"
            on_confirm
        />
    }
}
