//! `/if/admin/prompts/`: the prompt fields prompt stages show (authentik's `Prompt`), with the
//! stages that use each, and a form to create one; `/if/admin/prompts/<pk>/`: edit or delete
//! one. Both forms are derived from the prompt field's typed configuration ([`ObjectForm`]).

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::object_form::{load_form, Object, ObjectForm};
use crate::admin::api::{self, AdminFnError};
use crate::admin::model::collection;
use crate::admin::widgets::{DeleteObject, PageHeader};

/// A prompt stage that shows a field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct StageUse {
    pk: String,
    name: String,
}

/// authentik's `Prompt`, as the list shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct PromptRow {
    pk: String,
    name: String,
    field_key: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    prompt_stages_obj: Vec<StageUse>,
}

#[component]
pub fn PromptsPage() -> impl IntoView {
    let search = RwSignal::new(String::new());
    let prompts = Resource::new(
        move || search.get(),
        |search| async move {
            api::list::<PromptRow>(collection::PROMPTS, &[("search", &search)]).await
        },
    );
    let creating = RwSignal::new(false);
    view! {
        <PageHeader title="Prompt fields">
            <a class="button" href="/if/admin/stages/">"Stages"</a>
        </PageHeader>
        <div class="toolbar">
            <label for="prompt-search">"Search"</label>
            <input
                id="prompt-search"
                type="search"
                placeholder="Name"
                on:input=move |ev| search.set(event_target_value(&ev))
            />
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading prompt fields…"</p> }>
            {move || Suspend::new(async move {
                match prompts.await {
                    Ok(rows) if rows.is_empty() => view! { <p>"No prompt fields match."</p> }.into_any(),
                    Ok(rows) => view! { <PromptTable rows/> }.into_any(),
                    Err(e) => crate::admin::widgets::failure(&e).into_any(),
                }
            })}
        </Transition>
        <section class="admin-card" aria-labelledby="create-prompt-heading">
            <h2 id="create-prompt-heading">"Create a prompt field"</h2>
            <Show
                when=move || creating.get()
                fallback=move || view! {
                    <button type="button" class="button" on:click=move |_| creating.set(true)>
                        "New prompt field"
                    </button>
                }
            >
                <NewPromptForm/>
            </Show>
        </section>
    }
}

#[component]
fn PromptTable(rows: Vec<PromptRow>) -> impl IntoView {
    view! {
        <table class="admin-table" data-testid="prompt-list">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Field key"</th>
                    <th scope="col">"Label"</th>
                    <th scope="col">"Type"</th>
                    <th scope="col">"Stages"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|p| {
                        let href = format!("/if/admin/prompts/{}/", p.pk);
                        let stages = p
                            .prompt_stages_obj
                            .iter()
                            .map(|s| s.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ");
                        view! {
                            <tr>
                                <td><a href=href>{p.name}</a></td>
                                <td><code>{p.field_key}</code></td>
                                <td>{p.label}</td>
                                <td>{p.kind}</td>
                                <td>{stages}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn NewPromptForm() -> impl IntoView {
    let form = LocalResource::new(|| async move { load_form(collection::PROMPTS, None).await });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the form…"</p> }>
            {move || Suspend::new(async move {
                match form.await {
                    Ok(form) => view! {
                        <ObjectForm
                            collection=collection::PROMPTS
                            form
                            object=None
                            base_href="/if/admin/prompts/"
                            create_label="Create prompt field"
                            id_prefix="new-prompt-"
                        />
                    }
                    .into_any(),
                    Err(e) => crate::admin::widgets::failure(&e).into_any(),
                }
            })}
        </Suspense>
    }
}

async fn load_prompt(
    pk: String,
) -> Result<(Object, crate::admin::config_form::FormDescriptor), AdminFnError> {
    let object: Object = api::get(collection::PROMPTS, &pk).await?;
    let form = load_form(collection::PROMPTS, Some(&object)).await?;
    Ok((object, form))
}

#[component]
pub fn PromptPage() -> impl IntoView {
    let params = use_params_map();
    let pk = Memo::new(move |_| params.with(|p| p.get("pk").unwrap_or_default()));
    let prompt = Resource::new(move || pk.get(), load_prompt);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the prompt field…"</p> }>
            {move || Suspend::new(async move {
                match prompt.await {
                    Ok((object, form)) => view! { <PromptEditor object form/> }.into_any(),
                    Err(e) => view! { <PageHeader title="Prompt field"/> {crate::admin::widgets::failure(&e)} }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PromptEditor(object: Object, form: crate::admin::config_form::FormDescriptor) -> impl IntoView {
    let text = |key: &str| {
        object
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (pk, name) = (text("pk"), text("name"));
    view! {
        <PageHeader title=format!("Prompt field: {name}")/>
        <section class="admin-card">
            <ObjectForm
                collection=collection::PROMPTS
                form
                object=Some(object)
                base_href="/if/admin/prompts/"
                create_label="Create prompt field"
                id_prefix="prompt-"
            />
        </section>
        <DeleteObject collection=collection::PROMPTS pk=pk what=format!("the prompt field “{name}”") back="/if/admin/prompts/"/>
    }
}
