//! `/if/admin/blueprints/`: import a blueprint (upload or paste the YAML, preview what each entry
//! would do, then apply) and export any flow as a blueprint download.
//!
//! The preview is the apply itself in a dry run, so it cannot promise what the apply then does
//! differently; "Apply" is offered only for the text that was previewed.

use leptos::prelude::*;

use crate::admin::api::{self, AdminFnError};
use crate::admin::model::{collection, BlueprintAnswer, BlueprintError, EntryReport, Flow};
use crate::admin::widgets::PageHeader;

#[component]
pub fn BlueprintsPage() -> impl IntoView {
    // Bumped by each apply: the export list then shows the flows it made.
    let applied = RwSignal::new(0u32);
    view! {
        <PageHeader title="Blueprints"/>
        <ImportBlueprint applied/>
        <ExportFlow applied/>
    }
}

/// What the import section shows under the form.
#[derive(Clone, Debug, PartialEq)]
enum ImportState {
    Idle,
    Busy,
    /// The answer for `content` (`applied`: not a preview).
    Answer {
        content: String,
        applied: bool,
        answer: BlueprintAnswer,
    },
    Failed(AdminFnError),
}

#[component]
fn ImportBlueprint(applied: RwSignal<u32>) -> impl IntoView {
    let content = RwSignal::new(String::new());
    let state = RwSignal::new(ImportState::Idle);
    let run = move |dry_run: bool| {
        let text = content.get_untracked();
        state.set(ImportState::Busy);
        leptos::task::spawn_local(async move {
            let next = match api::blueprint(text.clone(), dry_run).await {
                Ok(answer) => ImportState::Answer {
                    content: text,
                    applied: !dry_run,
                    answer,
                },
                Err(error) => ImportState::Failed(error),
            };
            if !dry_run
                && matches!(
                    next,
                    ImportState::Answer {
                        answer: BlueprintAnswer::Report(_),
                        ..
                    }
                )
            {
                applied.update(|n| *n += 1);
            }
            state.set(next);
        });
    };
    // Apply only what was previewed, and only when the preview found it valid.
    let can_apply = move || {
        matches!(
            state.get(),
            ImportState::Answer { content: ref previewed, applied: false, answer: BlueprintAnswer::Report(_) }
                if *previewed == content.get()
        )
    };
    view! {
        <section class="admin-card" aria-labelledby="import-heading">
            <h2 id="import-heading">"Import"</h2>
            <p class="muted">
                "Upload or paste an authentik blueprint (YAML). Preview shows what each entry \
                 would do; nothing changes until you apply."
            </p>
            <div class="form-row">
                <label for="blueprint-file">"Blueprint file"</label>
                <input
                    id="blueprint-file"
                    type="file"
                    accept=".yaml,.yml,application/yaml,text/yaml"
                    on:change=move |ev| read_file(ev, content)
                />
            </div>
            <div class="form-row">
                <label for="blueprint-content">"YAML"</label>
                <textarea
                    id="blueprint-content"
                    class="code"
                    rows="14"
                    spellcheck="false"
                    prop:value=move || content.get()
                    on:input=move |ev| content.set(event_target_value(&ev))
                ></textarea>
            </div>
            <div class="toolbar">
                <button
                    type="button"
                    class="button"
                    data-testid="blueprint-preview"
                    disabled=move || content.with(|c| c.trim().is_empty()) || state.get() == ImportState::Busy
                    on:click=move |_| run(true)
                >
                    "Preview"
                </button>
                <button
                    type="button"
                    class="button primary"
                    data-testid="blueprint-apply"
                    disabled=move || !can_apply()
                    title="Preview first: apply is offered for the text you previewed"
                    on:click=move |_| run(false)
                >
                    "Apply"
                </button>
            </div>
            {move || match state.get() {
                ImportState::Idle => ().into_any(),
                ImportState::Busy => view! { <p class="muted">"Working…"</p> }.into_any(),
                ImportState::Failed(error) => view! { <div class="alert" role="alert">{error.to_string()}</div> }.into_any(),
                ImportState::Answer { applied, answer: BlueprintAnswer::Invalid(error), .. } => {
                    view! { <InvalidBlueprint error applied/> }.into_any()
                }
                ImportState::Answer { applied, answer: BlueprintAnswer::Report(report), .. } => {
                    let entries: Vec<EntryReport> = report
                        .blueprints
                        .into_iter()
                        .flat_map(|b| b.entries)
                        .collect();
                    view! { <ReportTable entries changes=report.changes applied/> }.into_any()
                }
            }}
        </section>
    }
}

/// Puts the chosen file's text into `content` (browser only).
fn read_file(ev: leptos::ev::Event, content: RwSignal<String>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(file) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        leptos::task::spawn_local(async move {
            let text = wasm_bindgen_futures::JsFuture::from(file.text()).await;
            if let Some(text) = text.ok().and_then(|t| t.as_string()) {
                content.set(text);
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, content);
}

#[component]
fn InvalidBlueprint(error: BlueprintError, applied: bool) -> impl IntoView {
    let heading = if applied {
        "Not applied: the blueprint has an error. Nothing was changed."
    } else {
        "The blueprint has an error; it cannot be applied as written."
    };
    let row = |label: &'static str, value: Option<String>, testid: &'static str| {
        value.map(|v| view! { <dt>{label}</dt><dd data-testid=testid>{v}</dd> })
    };
    view! {
        <div class="alert" role="alert" data-testid="blueprint-error">
            <p><strong>{heading}</strong></p>
            <dl>
                {row("File", Some(error.file), "blueprint-error-file")}
                {row("Entry", error.entry, "blueprint-error-entry")}
                {row("Model", error.model, "blueprint-error-model")}
                {row("Field", error.field, "blueprint-error-field")}
                {row("Reason", Some(error.message), "blueprint-error-message")}
            </dl>
        </div>
    }
}

/// A readable outcome: "Created", "Updated: name, title", "Skipped: reason".
fn outcome_text(entry: &EntryReport) -> String {
    match entry.action.as_str() {
        "created" => "Created".to_owned(),
        "updated" => format!("Updated: {}", entry.fields.join(", ")),
        "unchanged" => "Unchanged".to_owned(),
        "deleted" => "Deleted".to_owned(),
        "skipped" => format!("Skipped: {}", entry.reason.clone().unwrap_or_default()),
        "applied" => format!(
            "Applied blueprint {}",
            entry.blueprint.clone().unwrap_or_default()
        ),
        other => other.to_owned(),
    }
}

/// `{"slug": "x"}` as `slug=x`.
fn identifiers_text(identifiers: &serde_json::Value) -> String {
    match identifiers {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[component]
fn ReportTable(entries: Vec<EntryReport>, changes: usize, applied: bool) -> impl IntoView {
    let summary = match (applied, changes) {
        (true, 0) => "Applied: nothing needed to change.".to_owned(),
        (true, n) => format!("Applied: {n} change(s)."),
        (false, 0) => "Preview: nothing would change.".to_owned(),
        (false, n) => format!("Preview: {n} change(s) would be made. Apply to make them."),
    };
    view! {
        <p role="status" data-testid="blueprint-summary">{summary}</p>
        <table class="admin-table" data-testid="blueprint-report">
            <thead>
                <tr>
                    <th scope="col">"Entry"</th>
                    <th scope="col">"Model"</th>
                    <th scope="col">"Identifiers"</th>
                    <th scope="col">"Outcome"</th>
                </tr>
            </thead>
            <tbody>
                {entries
                    .into_iter()
                    .map(|e| {
                        let outcome = outcome_text(&e);
                        let notes = e.notes.join(" ");
                        view! {
                            <tr data-testid="blueprint-entry" data-action=e.action.clone()>
                                <td>{e.entry.clone()}</td>
                                <td>{e.model.clone()}</td>
                                <td>{identifiers_text(&e.identifiers)}</td>
                                <td>
                                    {outcome}
                                    {(!notes.is_empty()).then(|| view! { <div class="muted">{notes}</div> })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// A flow picker and the download link of its blueprint export (a plain GET with the session
/// cookie: `/api/v3/flows/instances/<slug>/export/`).
#[component]
fn ExportFlow(applied: RwSignal<u32>) -> impl IntoView {
    let flows = Resource::new(
        move || applied.get(),
        |_| api::list::<Flow>(collection::FLOWS, &[]),
    );
    let chosen = RwSignal::new(String::new());
    view! {
        <section class="admin-card" aria-labelledby="export-heading">
            <h2 id="export-heading">"Export"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading flows…"</p> }>
                {move || Suspend::new(async move {
                    match flows.await {
                        Ok(list) => {
                            if chosen.get_untracked().is_empty() {
                                if let Some(first) = list.first() {
                                    chosen.set(first.slug.clone());
                                }
                            }
                            view! {
                                <div class="form-row">
                                    <label for="export-flow">"Flow"</label>
                                    <select
                                        id="export-flow"
                                        prop:value=move || chosen.get()
                                        on:change=move |ev| chosen.set(event_target_value(&ev))
                                    >
                                        {list
                                            .into_iter()
                                            .map(|f| {
                                                let label = format!("{} ({})", f.name, f.slug);
                                                view! { <option value=f.slug>{label}</option> }
                                            })
                                            .collect_view()}
                                    </select>
                                </div>
                                <a
                                    class="button"
                                    data-testid="blueprint-export"
                                    download=move || format!("flow_{}.yaml", chosen.get())
                                    href=move || format!("/api/v3/flows/instances/{}/export/", chosen.get())
                                >
                                    "Download blueprint"
                                </a>
                            }
                                .into_any()
                        }
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
