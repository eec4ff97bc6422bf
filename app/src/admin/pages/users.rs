//! `/if/admin/users/`: accounts, searchable, and a form to create one; `/if/admin/users/<pk>/`:
//! edit an account (deactivating it ends its sessions), set its password, delete it.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::object_form::{Object, ObjectForm};
use crate::admin::api::{self, AdminFnError};
use crate::admin::config_form::{FieldKind, FormDescriptor, FormField};
use crate::admin::model::collection;
use crate::admin::widgets::{
    DeleteObject, FieldError, FormAlert, FormError, PageHeader, SearchList,
};

/// authentik's `User`, as the list shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct UserRow {
    pk: i64,
    username: String,
    name: String,
    email: String,
    is_active: bool,
    is_superuser: bool,
    #[serde(rename = "type")]
    kind: String,
}

/// The account fields an administrator edits (authentik's `UserRequest`).
fn user_form() -> FormDescriptor {
    let f = FormField::new;
    let mut kind = f("type", "Type", FieldKind::Choice);
    kind.choices = [
        ("internal", "Internal"),
        ("external", "External"),
        ("service_account", "Service account"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
    .collect();
    FormDescriptor {
        fields: vec![
            f("username", "Username", FieldKind::Text),
            f("name", "Name", FieldKind::Text),
            f("email", "Email", FieldKind::Text),
            f("is_active", "Active", FieldKind::Switch)
                .help("Switching an account off ends all its sessions at once."),
            kind,
            f("path", "Path", FieldKind::Text).help("Where the account sits, e.g. users."),
        ],
        defaults: [
            ("is_active".to_owned(), json!(true)),
            ("type".to_owned(), json!("internal")),
            ("path".to_owned(), json!("users")),
        ]
        .into_iter()
        .collect(),
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <PageHeader title="Users"/>
        <SearchList
            collection=collection::USERS
            noun="users"
            input_id="user-search"
            placeholder="Username, name or email"
            table=|rows| view! { <UserTable rows/> }.into_any()
        />
        <section class="admin-card" aria-labelledby="create-user-heading">
            <h2 id="create-user-heading">"Create a user"</h2>
            <p class="help">"The password is set on the account's page once it exists."</p>
            <ObjectForm
                collection=collection::USERS
                form=user_form()
                object=None
                base_href="/if/admin/users/"
                create_label="Create user"
                id_prefix="new-user-"
            />
        </section>
    }
}

#[component]
fn UserTable(rows: Vec<UserRow>) -> impl IntoView {
    view! {
        <table class="admin-table" data-testid="user-list">
            <thead>
                <tr>
                    <th scope="col">"Username"</th>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Email"</th>
                    <th scope="col">"Type"</th>
                    <th scope="col">"Status"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|u| {
                        let href = format!("/if/admin/users/{}/", u.pk);
                        let status = match (u.is_active, u.is_superuser) {
                            (false, _) => "Inactive",
                            (true, true) => "Active · superuser",
                            (true, false) => "Active",
                        };
                        view! {
                            <tr>
                                <td><a href=href>{u.username}</a></td>
                                <td>{u.name}</td>
                                <td>{u.email}</td>
                                <td>{u.kind}</td>
                                <td>{status}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn UserPage() -> impl IntoView {
    let params = use_params_map();
    let pk = Memo::new(move |_| params.with(|p| p.get("pk").unwrap_or_default()));
    let user = Resource::new(
        move || pk.get(),
        |pk| async move { api::get::<Object>(collection::USERS, &pk).await },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the user…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(object) => view! { <UserEditor object/> }.into_any(),
                    Err(e) => view! { <PageHeader title="User"/> {crate::admin::widgets::failure(&e)} }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn UserEditor(object: Object) -> impl IntoView {
    let pk = object.get("pk").map(|v| v.to_string()).unwrap_or_default();
    let username = object
        .get("username")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    view! {
        <PageHeader title=format!("User: {username}")/>
        <section class="admin-card" aria-labelledby="user-account-heading">
            <h2 id="user-account-heading">"Account"</h2>
            <ObjectForm
                collection=collection::USERS
                form=user_form()
                object=Some(object)
                base_href="/if/admin/users/"
                create_label="Create user"
                id_prefix="user-"
            />
        </section>
        <SetPassword pk=pk.clone()/>
        <super::user_security::UserRecovery pk=pk.clone()/>
        <super::user_security::UserDevices pk=pk.clone()/>
        <super::user_security::UserSessions pk=pk.clone()/>
        <DeleteObject collection=collection::USERS pk=pk.clone() what=format!("the user “{username}” (their sessions and tokens go with them)") back="/if/admin/users/"/>
    }
}

/// A new password, typed twice; the account's other sessions end.
#[component]
fn SetPassword(pk: String) -> impl IntoView {
    let password = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let error: FormError = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let set = Action::new(move |password: &String| {
        let (pk, body) = (pk.clone(), json!({ "password": password }));
        async move {
            api::object_action(
                collection::USERS.to_owned(),
                Some(pk),
                "set_password".into(),
                body,
            )
            .await?
            .map(|_| ())
        }
    });
    Effect::new(move |_| match set.value().get() {
        Some(Ok(())) => {
            error.set(None);
            password.set(String::new());
            repeat.set(String::new());
            status.set("Password set. The account's other sessions have ended.".into());
        }
        Some(Err(e)) => {
            status.set(String::new());
            error.set(Some(e));
        }
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        status.set(String::new());
        if password.get() != repeat.get() {
            error.set(Some(AdminFnError::Invalid(
                [(
                    "password_repeat".to_owned(),
                    vec!["The passwords differ.".to_owned()],
                )]
                .into_iter()
                .collect(),
            )));
            return;
        }
        set.dispatch(password.get());
    };
    view! {
        <section class="admin-card" aria-labelledby="set-password-heading">
            <h2 id="set-password-heading">"Set the password"</h2>
            <form on:submit=submit data-testid="set-password">
                <div class="form-row">
                    <label for="set-password">"New password"</label>
                    <input
                        id="set-password"
                        type="password"
                        autocomplete="new-password"
                        aria-describedby="set-password-error"
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                    <FieldError error field="password" id="set-password"/>
                </div>
                <div class="form-row">
                    <label for="set-password-repeat">"Repeat it"</label>
                    <input
                        id="set-password-repeat"
                        type="password"
                        autocomplete="new-password"
                        aria-describedby="set-password-repeat-error"
                        prop:value=move || repeat.get()
                        on:input=move |ev| repeat.set(event_target_value(&ev))
                    />
                    <FieldError error field="password_repeat" id="set-password-repeat"/>
                </div>
                <FormAlert error fields=&["password", "password_repeat"]/>
                <p role="status" class="saved">{move || status.get()}</p>
                <button type="submit" class="button primary">"Set password"</button>
            </form>
        </section>
    }
}
