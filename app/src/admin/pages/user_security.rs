//! The user page's MFA devices and sessions: each listed with a button that deletes the device
//! (the person then signs in without it) or revokes the session (its next request is
//! anonymous). The lists reload after each change.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin::api;
use crate::admin::model::collection;
use crate::admin::widgets::{copy_text, ConfirmButton, FormAlert, FormError};

/// authentik's `Device` (the admin "all" list).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct DeviceRow {
    pk: String,
    name: String,
    verbose_name: String,
    /// `authentik_stages_authenticator_totp.totpdevice`: the kind is its app's last word.
    meta_model_name: String,
    confirmed: bool,
    created: String,
    last_used: Option<String>,
}

impl DeviceRow {
    /// `totp`, `static`, `webauthn`, `email`: the admin path's kind.
    fn kind(&self) -> String {
        let app = self.meta_model_name.split('.').next().unwrap_or_default();
        app.rsplit('_').next().unwrap_or_default().to_owned()
    }
}

/// authentik's `AuthenticatedSession`, as the table shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct SessionRow {
    uuid: String,
    current: bool,
    last_ip: String,
    last_user_agent: String,
    last_used: String,
    expires: Option<String>,
}

/// Deletes `(collection, id)` rows of a list (a device, a session): each success bumps `version`
/// so the list reloads; a failure goes to `error`.
fn row_delete(
    version: RwSignal<u32>,
    error: FormError,
) -> Action<(String, String), Result<(), api::AdminFnError>> {
    let action = Action::new(|(collection, id): &(String, String)| {
        let (collection, id) = (collection.clone(), id.clone());
        async move { api::delete(&collection, &id).await }
    });
    Effect::new(move |_| match action.value().get() {
        Some(Ok(())) => {
            error.set(None);
            version.update(|v| *v += 1);
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    action
}

/// `2026-12-02T10:00:00.000000Z` as `2026-12-02 10:00`.
fn short_time(time: &str) -> String {
    time.get(..16).unwrap_or(time).replace('T', " ")
}

#[component]
pub fn UserDevices(pk: String) -> impl IntoView {
    let error: FormError = RwSignal::new(None);
    let version = RwSignal::new(0u32);
    let devices = Resource::new(
        move || (pk.clone(), version.get()),
        |(pk, _)| async move {
            api::list::<DeviceRow>(collection::ADMIN_DEVICES, &[("user", pk.as_str())]).await
        },
    );
    let delete = row_delete(version, error);
    view! {
        <section class="admin-card" aria-labelledby="user-devices-heading">
            <h2 id="user-devices-heading">"MFA devices"</h2>
            <FormAlert error/>
            <Transition fallback=|| view! { <p class="muted">"Loading devices…"</p> }>
                {move || Suspend::new(async move {
                    match devices.await {
                        Ok(rows) if rows.is_empty() => {
                            view! { <p data-testid="devices-empty">"No MFA devices."</p> }.into_any()
                        }
                        Ok(rows) => view! {
                            <table class="admin-table" data-testid="device-list">
                                <thead>
                                    <tr>
                                        <th scope="col">"Name"</th>
                                        <th scope="col">"Kind"</th>
                                        <th scope="col">"Created"</th>
                                        <th scope="col">"Last used"</th>
                                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows
                                        .into_iter()
                                        .map(|d| {
                                            let target = (format!("authenticators/admin/{}", d.kind()), d.pk.clone());
                                            let kind = if d.confirmed {
                                                d.verbose_name.clone()
                                            } else {
                                                format!("{} (set-up not finished)", d.verbose_name)
                                            };
                                            view! {
                                                <tr data-testid="device">
                                                    <td>{d.name.clone()}</td>
                                                    <td>{kind}</td>
                                                    <td>{short_time(&d.created)}</td>
                                                    <td>{d.last_used.as_deref().map(short_time).unwrap_or_else(|| "never".into())}</td>
                                                    <td>
                                                        <ConfirmButton
                                                            label="Delete"
                                                            aria_label=format!("Delete the device {}", d.name)
                                                            question=format!("Delete “{}”? They will sign in without it.", d.name)
                                                            confirm_label="Yes, delete"
                                                            group_label="Confirm deletion"
                                                            trigger_class="button danger"
                                                            confirm_class="button danger"
                                                            on_confirm=Callback::new(move |()| {
                                                                delete.dispatch(target.clone());
                                                            })
                                                        />
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
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
pub fn UserSessions(pk: String) -> impl IntoView {
    let error: FormError = RwSignal::new(None);
    let version = RwSignal::new(0u32);
    let sessions = Resource::new(
        move || (pk.clone(), version.get()),
        |(pk, _)| async move {
            api::list::<SessionRow>(collection::SESSIONS, &[("user", pk.as_str())]).await
        },
    );
    let revoke = row_delete(version, error);
    view! {
        <section class="admin-card" aria-labelledby="user-sessions-heading">
            <h2 id="user-sessions-heading">"Sessions"</h2>
            <FormAlert error/>
            <Transition fallback=|| view! { <p class="muted">"Loading sessions…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(rows) if rows.is_empty() => {
                            view! { <p data-testid="sessions-empty">"Not signed in anywhere."</p> }.into_any()
                        }
                        Ok(rows) => view! {
                            <table class="admin-table" data-testid="session-list">
                                <thead>
                                    <tr>
                                        <th scope="col">"Last used"</th>
                                        <th scope="col">"IP address"</th>
                                        <th scope="col">"Browser"</th>
                                        <th scope="col">"Expires"</th>
                                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows
                                        .into_iter()
                                        .map(|s| {
                                            let target = (collection::SESSIONS.to_owned(), s.uuid.clone());
                                            let question = if s.current {
                                                "Revoke your own session? You will be signed out.".to_owned()
                                            } else {
                                                "Revoke this session? It is signed out at once.".to_owned()
                                            };
                                            view! {
                                                <tr data-testid="session" data-current=s.current.to_string()>
                                                    <td>{short_time(&s.last_used)}{s.current.then_some(" (this session)")}</td>
                                                    <td>{s.last_ip.clone()}</td>
                                                    <td>{s.last_user_agent.clone()}</td>
                                                    <td>{s.expires.as_deref().map(short_time).unwrap_or_default()}</td>
                                                    <td>
                                                        <ConfirmButton
                                                            label="Revoke"
                                                            aria_label=format!("Revoke the session from {}", s.last_ip)
                                                            question
                                                            confirm_label="Yes, revoke"
                                                            group_label="Confirm revocation"
                                                            trigger_class="button danger"
                                                            confirm_class="button danger"
                                                            on_confirm=Callback::new(move |()| {
                                                                revoke.dispatch(target.clone());
                                                            })
                                                        />
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any(),
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// A recovery link for the account: made here to hand over (copied), or mailed to the account's
/// address with the recovery flow's email stage. Either works once, within 30 minutes.
#[component]
pub fn UserRecovery(pk: String) -> impl IntoView {
    let error: FormError = RwSignal::new(None);
    let link = RwSignal::new(None::<String>);
    let status = RwSignal::new(String::new());
    let make = {
        let pk = pk.clone();
        Action::new(move |_: &()| {
            let pk = pk.clone();
            async move {
                let answer: serde_json::Value = api::action(
                    collection::USERS,
                    Some(&pk),
                    "recovery",
                    serde_json::json!({}),
                )
                .await?;
                Ok::<_, api::AdminFnError>(
                    answer
                        .get("link")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                )
            }
        })
    };
    let send = Action::new(move |_: &()| {
        let pk = pk.clone();
        async move {
            api::object_action(
                collection::USERS.to_owned(),
                Some(pk),
                "recovery_email".into(),
                serde_json::json!({}),
            )
            .await?
            .map(|_| ())
        }
    });
    Effect::new(move |_| match make.value().get() {
        Some(Ok(url)) => {
            error.set(None);
            status.set("Link made: it works once, for 30 minutes.".into());
            link.set(Some(url));
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    Effect::new(move |_| match send.value().get() {
        Some(Ok(())) => {
            error.set(None);
            status.set("Recovery link sent by email (it works once, for 30 minutes).".into());
        }
        Some(Err(e)) => {
            status.set(String::new());
            error.set(Some(e));
        }
        None => {}
    });
    let copy = Action::new_local(|text: &String| copy_text(text.clone()));
    view! {
        <section class="admin-card" aria-labelledby="user-recovery-heading">
            <h2 id="user-recovery-heading">"Recovery"</h2>
            <p class="help">
                "A link into the recovery flow for this account: it skips finding the account \
                 and checking the mailbox, then asks for the second factor (if any) and a new password."
            </p>
            <div class="toolbar">
                <button type="button" class="button" data-testid="recovery-link" on:click=move |_| { make.dispatch(()); }>
                    "Create a recovery link"
                </button>
                <button type="button" class="button" data-testid="recovery-email" on:click=move |_| { send.dispatch(()); }>
                    "Email a recovery link"
                </button>
            </div>
            <FormAlert error/>
            <p role="status" class="saved">{move || status.get()}</p>
            {move || link.get().map(|url| {
                let for_copy = url.clone();
                view! {
                    <div class="toolbar">
                        <input type="text" readonly aria-label="Recovery link" data-testid="recovery-url" prop:value=url/>
                        <button type="button" class="button" on:click=move |_| { copy.dispatch(for_copy.clone()); }>
                            "Copy"
                        </button>
                    </div>
                }
            })}
        </section>
    }
}
