//! `/if/admin/invitations/`: invitations (authentik's `Invitation`) with their links, a form to
//! create one (expiry, single use, fixed data, flow), copy a link, delete one.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::object_form::{fill_choices, Object, ObjectForm};
use crate::admin::api::{self, AdminFnError};
use crate::admin::config_form::{FieldKind, FormDescriptor, FormField};
use crate::admin::model::collection;
use crate::admin::widgets::{copy_text, ConfirmDelete, FormAlert, FormError, PageHeader};

/// A flow an invitation is for (part of authentik's `Flow`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct FlowRef {
    slug: String,
    name: String,
}

/// authentik's `Invitation`, as the list shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct InvitationRow {
    pk: String,
    name: String,
    expires: Option<String>,
    single_use: bool,
    flow_obj: Option<FlowRef>,
    fixed_data: Value,
}

impl InvitationRow {
    /// The link to send: the invitation's flow with the token (`itoken`); `None` when it names
    /// no flow (any enrollment flow with an invitation stage then takes the token).
    fn link(&self, origin: &str) -> Option<String> {
        let flow = self.flow_obj.as_ref()?;
        Some(format!(
            "{origin}/if/flow/{}/?itoken={}",
            flow.slug, self.pk
        ))
    }
}

fn invitation_form() -> FormDescriptor {
    let f = FormField::new;
    let mut expires = f("expires", "Expires", FieldKind::Text)
        .help("UTC, e.g. 2026-12-31T23:59:00Z. Empty: never.");
    expires.nullable = true;
    let mut flow = f("flow", "Flow", FieldKind::Reference)
        .help("The enrollment flow the link opens; its invitation stage accepts the token.");
    flow.collection = Some(collection::FLOWS.to_owned());
    flow.nullable = true;
    FormDescriptor {
        fields: vec![
            f("name", "Name", FieldKind::Text)
                .help("Letters, digits, - and _ only."),
            expires,
            f("single_use", "Single use", FieldKind::Switch)
                .help("The invitation is deleted once someone enrolls with it."),
            f("fixed_data", "Fixed data (JSON)", FieldKind::Json).help(
                "Merged into the prompt data of whoever uses it, e.g. {\"email\": \"a@example.com\"}.",
            ),
            flow,
        ],
        defaults: [("fixed_data".to_owned(), serde_json::json!({}))]
            .into_iter()
            .collect(),
    }
}

/// This page's origin (`https://host`), for absolute links; empty during the server render.
fn origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}

#[component]
pub fn InvitationsPage() -> impl IntoView {
    let version = RwSignal::new(0_u32);
    let invitations = Resource::new(
        move || version.get(),
        |_| async move { api::list::<InvitationRow>(collection::INVITATIONS, &[]).await },
    );
    let form = Resource::new(
        || (),
        |_| async move { Ok::<_, AdminFnError>(fill_choices(invitation_form(), None).await) },
    );
    view! {
        <PageHeader title="Invitations"/>
        <Transition fallback=|| view! { <p class="muted">"Loading invitations…"</p> }>
            {move || Suspend::new(async move {
                match invitations.await {
                    Ok(rows) if rows.is_empty() => view! { <p>"No invitations."</p> }.into_any(),
                    Ok(rows) => view! { <InvitationTable rows version/> }.into_any(),
                    Err(e) => crate::admin::widgets::failure(&e).into_any(),
                }
            })}
        </Transition>
        <section class="admin-card" aria-labelledby="create-invitation-heading">
            <h2 id="create-invitation-heading">"Create an invitation"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading the form…"</p> }>
                {move || Suspend::new(async move {
                    match form.await {
                        Ok(form) => view! {
                            <ObjectForm
                                collection=collection::INVITATIONS
                                form
                                object=None
                                base_href="/if/admin/invitations/"
                                create_label="Create invitation"
                                id_prefix="new-invitation-"
                                on_created=Callback::new(move |_| version.update(|v| *v += 1))
                            />
                        }
                        .into_any(),
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn InvitationTable(rows: Vec<InvitationRow>, version: RwSignal<u32>) -> impl IntoView {
    // Effects run in the browser only: the server render has no origin to show.
    let page_origin = RwSignal::new(String::new());
    Effect::new(move |_| page_origin.set(origin()));
    view! {
        <table class="admin-table" data-testid="invitation-list">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Flow"</th>
                    <th scope="col">"Expires"</th>
                    <th scope="col">"Use"</th>
                    <th scope="col">"Link"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|row| view! { <InvitationRowView row origin=page_origin version/> })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn InvitationRowView(
    row: InvitationRow,
    origin: RwSignal<String>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let has_link = row.flow_obj.is_some();
    let link_of = {
        let row = row.clone();
        move || row.link(&origin.get()).unwrap_or_default()
    };
    let error: FormError = RwSignal::new(None);
    let copied = RwSignal::new(String::new());
    let delete = Action::new({
        let pk = row.pk.clone();
        move |_: &()| {
            let pk = pk.clone();
            async move { api::delete(collection::INVITATIONS, &pk).await }
        }
    });
    Effect::new(move |_| match delete.value().get() {
        Some(Ok(())) => version.update(|v| *v += 1),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let copy = Action::new_local(|text: &String| copy_text(text.clone()));
    Effect::new(move |_| {
        if let Some(done) = copy.value().get() {
            copied.set(
                if done {
                    "Copied."
                } else {
                    "Copy refused by the browser: select the link instead."
                }
                .into(),
            );
        }
    });
    let link_view = match has_link {
        true => {
            let label = format!("Link of {}", row.name);
            let for_copy = link_of.clone();
            view! {
                <input type="text" readonly=true prop:value=link_of aria-label=label class="invitation-link"/>
                <button type="button" class="button" on:click=move |_| {
                    copy.dispatch(for_copy());
                }>"Copy link"</button>
                <span role="status" class="saved">{move || copied.get()}</span>
            }
            .into_any()
        }
        false => view! { <span class="muted">"No flow: add ?itoken=" {row.pk.clone()} " to an enrollment flow's address"</span> }.into_any(),
    };
    let fixed: Object = row.fixed_data.as_object().cloned().unwrap_or_default();
    view! {
        <tr data-testid="invitation">
            <td>
                {row.name.clone()}
                {(!fixed.is_empty()).then(|| view! { <span class="muted">" · fixed: " {fixed.keys().cloned().collect::<Vec<_>>().join(", ")}</span> })}
            </td>
            <td>{row.flow_obj.as_ref().map(|f| f.name.clone()).unwrap_or_default()}</td>
            <td>{row.expires.clone().unwrap_or_else(|| "Never".into())}</td>
            <td>{if row.single_use { "Single use" } else { "Reusable" }}</td>
            <td>{link_view}</td>
            <td>
                <ConfirmDelete
                    what=format!("the invitation “{}”", row.name)
                    on_confirm=Callback::new(move |()| {
                        delete.dispatch(());
                    })
                />
                <FormAlert error/>
            </td>
        </tr>
    }
}
