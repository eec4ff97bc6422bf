//! `/if/admin/stages/`: every stage, searchable, with the flows that use it, and a form to
//! create one of any kind; `/if/admin/stages/<pk>/`: edit one through the form derived from its
//! kind's typed configuration ([`ObjectForm`]), see where it is bound, and delete it (its
//! bindings go with it, after saying which).

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::object_form::{load_form, Object, ObjectForm};
use crate::admin::api::{self, AdminFnError};
use crate::admin::model::collection;
use crate::admin::widgets::{DeleteObject, PageHeader, SearchList};

/// keyflow's `stages/all/kinds` entry: a kind and the collection that creates and edits it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct StageKindInfo {
    name: String,
    component: String,
    collection: String,
}

/// A flow that binds a stage (authentik's `Stage.flow_set`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct FlowUse {
    slug: String,
    name: String,
}

/// authentik's `Stage`, as the list shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct StageRow {
    pk: String,
    name: String,
    component: String,
    verbose_name: String,
    flow_set: Vec<FlowUse>,
}

async fn stage_kinds() -> Result<Vec<StageKindInfo>, AdminFnError> {
    api::action(collection::STAGES, None, "kinds", json!({})).await
}

#[component]
pub fn StagesPage() -> impl IntoView {
    view! {
        <PageHeader title="Stages">
            <a class="button" href="/if/admin/prompts/">"Prompt fields"</a>
        </PageHeader>
        <SearchList
            collection=collection::STAGES
            noun="stages"
            input_id="stage-search"
            placeholder="Name"
            table=|rows| view! { <StageTable rows/> }.into_any()
        />
        <CreateStage/>
    }
}

#[component]
fn StageTable(rows: Vec<StageRow>) -> impl IntoView {
    view! {
        <table class="admin-table" data-testid="stage-list">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Type"</th>
                    <th scope="col">"Used in"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|stage| {
                        let href = format!("/if/admin/stages/{}/", stage.pk);
                        view! {
                            <tr>
                                <td><a href=href>{stage.name}</a></td>
                                <td>{stage.verbose_name}</td>
                                <td><FlowLinks flows=stage.flow_set/></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// Links to the editors of `flows`, or "not bound".
#[component]
fn FlowLinks(flows: Vec<FlowUse>) -> impl IntoView {
    if flows.is_empty() {
        return view! { <span class="muted">"Not bound"</span> }.into_any();
    }
    view! {
        <ul class="inline-list">
            {flows
                .into_iter()
                .map(|f| {
                    let href = format!("/if/admin/flows/{}/", f.slug);
                    view! { <li><a href=href>{f.name}</a></li> }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

/// Pick a kind, then fill in its form (loaded when the kind is picked).
#[component]
fn CreateStage() -> impl IntoView {
    let kinds = Resource::new(|| (), |_| stage_kinds());
    let chosen = RwSignal::new(String::new());
    view! {
        <section class="admin-card" aria-labelledby="create-stage-heading">
            <h2 id="create-stage-heading">"Create a stage"</h2>
            <div class="form-row">
                <label for="new-stage-kind">"Type"</label>
                <Transition fallback=|| view! { <select id="new-stage-kind" disabled=true></select> }>
                    {move || Suspend::new(async move {
                        let rows = kinds.await.unwrap_or_default();
                        view! {
                            <select
                                id="new-stage-kind"
                                prop:value=move || chosen.get()
                                on:change=move |ev| chosen.set(event_target_value(&ev))
                            >
                                <option value="" disabled=true selected=move || chosen.get().is_empty()>
                                    "Choose a type…"
                                </option>
                                {rows
                                    .into_iter()
                                    .map(|k| {
                                        let value = k.collection.clone();
                                        view! {
                                            <option value=value.clone() selected=move || chosen.get() == value>
                                                {k.name}
                                            </option>
                                        }
                                    })
                                    .collect_view()}
                            </select>
                        }
                    })}
                </Transition>
            </div>
            {move || {
                let target = chosen.get();
                (!target.is_empty()).then(|| view! { <NewStageForm target/> })
            }}
        </section>
    }
}

#[component]
fn NewStageForm(target: String) -> impl IntoView {
    let form = LocalResource::new({
        let target = target.clone();
        move || {
            let target = target.clone();
            async move { load_form(&target, None).await }
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the form…"</p> }>
            {move || {
                let target = target.clone();
                Suspend::new(async move {
                    match form.await {
                        Ok(form) => view! {
                            <ObjectForm
                                collection=target
                                form
                                object=None
                                base_href="/if/admin/stages/"
                                create_label="Create stage"
                                id_prefix="new-stage-"
                            />
                        }
                        .into_any(),
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// Everything the stage page shows, loaded in one go.
#[derive(Clone, Serialize, Deserialize)]
struct StageEdit {
    row: StageRow,
    target: String,
    object: Object,
    form: crate::admin::config_form::FormDescriptor,
}

async fn load_stage(pk: String) -> Result<StageEdit, AdminFnError> {
    let row: StageRow = api::get(collection::STAGES, &pk).await?;
    let target = stage_kinds()
        .await?
        .into_iter()
        .find(|k| k.component == row.component)
        .map(|k| k.collection)
        .ok_or_else(|| {
            AdminFnError::Failed(format!(
                "keyflow cannot edit stages of the type “{}”.",
                row.verbose_name
            ))
        })?;
    let object: Object = api::get(&target, &pk).await?;
    let form = load_form(&target, Some(&object)).await?;
    Ok(StageEdit {
        row,
        target,
        object,
        form,
    })
}

#[component]
pub fn StagePage() -> impl IntoView {
    let params = use_params_map();
    let pk = Memo::new(move |_| params.with(|p| p.get("pk").unwrap_or_default()));
    let stage = Resource::new(move || pk.get(), load_stage);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the stage…"</p> }>
            {move || Suspend::new(async move {
                match stage.await {
                    Ok(edit) => view! { <StageEditor edit/> }.into_any(),
                    Err(e) => view! { <PageHeader title="Stage"/> {crate::admin::widgets::failure(&e)} }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn StageEditor(edit: StageEdit) -> impl IntoView {
    let StageEdit {
        row,
        target,
        object,
        form,
    } = edit;
    let bound = row.flow_set.len();
    // A bound stage goes with its bindings (the question says so).
    let force = if bound > 0 {
        vec![("force".to_owned(), "true".to_owned())]
    } else {
        Vec::new()
    };
    let what = match bound {
        0 => format!("the stage “{}”", row.name),
        n => format!(
            "the stage “{}” and its {n} binding{} in the flows above",
            row.name,
            if n == 1 { "" } else { "s" }
        ),
    };
    view! {
        <PageHeader title=format!("Stage: {}", row.name)/>
        <p class="muted">{row.verbose_name.clone()}</p>
        <section class="admin-card" aria-labelledby="stage-used-heading">
            <h2 id="stage-used-heading">"Used in"</h2>
            <FlowLinks flows=row.flow_set.clone()/>
        </section>
        <section class="admin-card" aria-labelledby="stage-settings-heading">
            <h2 id="stage-settings-heading">"Settings"</h2>
            <ObjectForm
                collection=target
                form
                object=Some(object)
                base_href="/if/admin/stages/"
                create_label="Create stage"
                id_prefix="stage-"
            />
        </section>
        <DeleteObject collection=collection::STAGES pk=row.pk.clone() what=what back="/if/admin/stages/" query=force/>
    }
}
