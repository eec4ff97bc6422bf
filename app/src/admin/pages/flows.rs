//! `/if/admin/flows/`: every flow, searchable, and a form to create one (which then opens in
//! the editor).

use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_navigate};

use super::flow_fields::{FlowDraft, FlowFields, FLOW_FIELDS};
use crate::admin::api;
use crate::admin::model::{choices, collection, Flow};
use crate::admin::widgets::{FormAlert, FormError, PageHeader, SearchList};

#[component]
pub fn FlowListPage() -> impl IntoView {
    view! {
        <PageHeader title="Flows"/>
        <SearchList
            collection=collection::FLOWS
            noun="flows"
            input_id="flow-search"
            placeholder="Name, slug or title"
            table=|rows| view! { <FlowTable rows/> }.into_any()
        />
        <CreateFlow/>
    }
}

#[component]
fn FlowTable(rows: Vec<Flow>) -> impl IntoView {
    view! {
        <table class="admin-table" data-testid="flow-list">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Slug"</th>
                    <th scope="col">"Designation"</th>
                    <th scope="col">"Title"</th>
                    <th scope="col">"Stages"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|flow| {
                        let href = format!("/if/admin/flows/{}/", flow.slug);
                        view! {
                            <tr>
                                <td><A href=href>{flow.name}</A></td>
                                <td><code>{flow.slug}</code></td>
                                <td>{choices::label(choices::DESIGNATION, &flow.designation).to_owned()}</td>
                                <td>{flow.title}</td>
                                <td>{flow.stages.len()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// Name, slug, title and designation; the rest keeps authentik's defaults until edited.
#[component]
fn CreateFlow() -> impl IntoView {
    let draft = FlowDraft::of(&Flow::default());
    let error: FormError = RwSignal::new(None);
    let navigate = use_navigate();
    let create = Action::new(move |body: &serde_json::Value| {
        let body = body.clone();
        async move { api::create::<Flow>(collection::FLOWS, body).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(flow)) => navigate(
            &format!("/if/admin/flows/{}/", flow.slug),
            Default::default(),
        ),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        create.dispatch(draft.body(false));
    };
    view! {
        <section class="admin-card" aria-labelledby="create-flow-heading">
            <h2 id="create-flow-heading">"Create a flow"</h2>
            <form on:submit=submit data-testid="create-flow">
                <FlowFields draft error id_prefix="new-flow-"/>
                <FormAlert error fields=FLOW_FIELDS/>
                <button type="submit" class="button primary" disabled=move || create.pending().get()>
                    "Create flow"
                </button>
            </form>
        </section>
    }
}
