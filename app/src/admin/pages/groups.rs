//! `/if/admin/groups/`: groups, searchable, and a form to create one; `/if/admin/groups/<pk>/`:
//! edit a group (name, superuser rights, parent, members) or delete it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::object_form::{fill_choices, Object, ObjectForm};
use crate::admin::api::{self, AdminFnError};
use crate::admin::config_form::{FieldKind, FormDescriptor, FormField};
use crate::admin::model::collection;
use crate::admin::widgets::{DeleteObject, PageHeader, SearchList};

/// A group a list row names (authentik's `RelatedGroup`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct GroupRef {
    name: String,
}

/// authentik's `Group`, as the list shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct GroupRow {
    pk: String,
    name: String,
    is_superuser: bool,
    parents_obj: Vec<GroupRef>,
    users: Vec<i64>,
}

/// The group fields an administrator edits (authentik's `GroupRequest`).
fn group_form() -> FormDescriptor {
    let f = FormField::new;
    let mut parents = f("parents", "Parent", FieldKind::References)
        .help("Members of this group count as members of its parent (keyflow keeps one parent).");
    parents.collection = Some(collection::GROUPS.to_owned());
    let mut users = f("users", "Members", FieldKind::References);
    users.collection = Some(collection::USERS.to_owned());
    FormDescriptor {
        fields: vec![
            f("name", "Name", FieldKind::Text),
            f("is_superuser", "Members are superusers", FieldKind::Switch).help(
                "Everyone in the group, or in a group under it, may use the admin interface.",
            ),
            parents,
            users,
        ],
        defaults: Default::default(),
    }
}

#[component]
pub fn GroupsPage() -> impl IntoView {
    let form = Resource::new(
        || (),
        |_| async move { Ok::<_, AdminFnError>(fill_choices(group_form(), None).await) },
    );
    view! {
        <PageHeader title="Groups"/>
        <SearchList
            collection=collection::GROUPS
            noun="groups"
            input_id="group-search"
            placeholder="Name"
            table=|rows| view! { <GroupTable rows/> }.into_any()
        />
        <section class="admin-card" aria-labelledby="create-group-heading">
            <h2 id="create-group-heading">"Create a group"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading the form…"</p> }>
                {move || Suspend::new(async move {
                    match form.await {
                        Ok(form) => view! {
                            <ObjectForm
                                collection=collection::GROUPS
                                form
                                object=None
                                base_href="/if/admin/groups/"
                                create_label="Create group"
                                id_prefix="new-group-"
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
fn GroupTable(rows: Vec<GroupRow>) -> impl IntoView {
    view! {
        <table class="admin-table" data-testid="group-list">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Parent"</th>
                    <th scope="col">"Members"</th>
                    <th scope="col">"Superuser"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|g| {
                        let href = format!("/if/admin/groups/{}/", g.pk);
                        let parent = g.parents_obj.first().map(|p| p.name.clone()).unwrap_or_default();
                        view! {
                            <tr>
                                <td><a href=href>{g.name}</a></td>
                                <td>{parent}</td>
                                <td>{g.users.len()}</td>
                                <td>{if g.is_superuser { "Yes" } else { "No" }}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

async fn load_group(pk: String) -> Result<(Object, FormDescriptor), AdminFnError> {
    let object: Object = api::get(collection::GROUPS, &pk).await?;
    let mut form = fill_choices(group_form(), Some(&object)).await;
    // A group cannot be its own parent.
    if let Some(parents) = form.fields.iter_mut().find(|f| f.key == "parents") {
        parents.choices.retain(|(value, _)| *value != pk);
    }
    Ok((object, form))
}

#[component]
pub fn GroupPage() -> impl IntoView {
    let params = use_params_map();
    let pk = Memo::new(move |_| params.with(|p| p.get("pk").unwrap_or_default()));
    let group = Resource::new(move || pk.get(), load_group);
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the group…"</p> }>
            {move || Suspend::new(async move {
                match group.await {
                    Ok((object, form)) => view! { <GroupEditor object form/> }.into_any(),
                    Err(e) => view! { <PageHeader title="Group"/> {crate::admin::widgets::failure(&e)} }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn GroupEditor(object: Object, form: FormDescriptor) -> impl IntoView {
    let text = |key: &str| {
        object
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let (pk, name) = (text("pk"), text("name"));
    view! {
        <PageHeader title=format!("Group: {name}")/>
        <section class="admin-card">
            <ObjectForm
                collection=collection::GROUPS
                form
                object=Some(object)
                base_href="/if/admin/groups/"
                create_label="Create group"
                id_prefix="group-"
            />
        </section>
        <DeleteObject collection=collection::GROUPS pk=pk what=format!("the group “{name}” (its members stay; groups under it lose their parent)") back="/if/admin/groups/"/>
    }
}
