//! `/if/admin/events/`: the audit log (authentik's `Event`), newest first, filtered by action,
//! user, client IP and time. Filters apply as they are typed; the server answers at most the
//! newest thousand matches.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admin::api;
use crate::admin::model::collection;
use crate::admin::widgets::PageHeader;

/// The actions keyflow records, with labels.
const ACTIONS: &[(&str, &str)] = &[
    ("login", "Login"),
    ("login_failed", "Failed login"),
    ("logout", "Logout"),
    ("user_write", "User written by a flow"),
    ("password_set", "Password set"),
    ("model_created", "Object created"),
    ("model_updated", "Object updated"),
    ("model_deleted", "Object deleted"),
    ("email_sent", "Email sent"),
    ("invitation_used", "Invitation used"),
    ("policy_execution", "Policy evaluated"),
    ("system_task_execution", "Task run (blueprint applied)"),
    ("suspicious_request", "Suspicious request"),
    ("configuration_error", "Configuration error"),
    ("system_exception", "System error"),
];

/// authentik's `Event`, as the table shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
struct EventRow {
    pk: String,
    user: Value,
    action: String,
    context: Value,
    client_ip: Option<String>,
    created: String,
}

impl EventRow {
    fn username(&self) -> String {
        self.user
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// One line about the event: the object it touched, else its context's keys.
    fn summary(&self) -> String {
        if let Some(model) = self.context.get("model") {
            let text = |k: &str| {
                model
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            return format!("{} “{}”", text("model_name"), text("name"));
        }
        match &self.context {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join(" · "),
            _ => String::new(),
        }
    }
}

/// The filter form's values.
#[derive(Clone, Debug, Default, PartialEq)]
struct Filters {
    action: String,
    username: String,
    client_ip: String,
    since: String,
    until: String,
}

#[component]
pub fn EventsPage() -> impl IntoView {
    let filters = RwSignal::new(Filters::default());
    let events = Resource::new(
        move || filters.get(),
        |f| async move {
            let query = [
                ("action", f.action.as_str()),
                ("username", f.username.as_str()),
                ("client_ip", f.client_ip.as_str()),
                ("created__gte", f.since.as_str()),
                ("created__lte", f.until.as_str()),
            ];
            api::list::<EventRow>(collection::EVENTS, &query).await
        },
    );
    let text_filter = move |id: &'static str,
                            label: &'static str,
                            placeholder: &'static str,
                            set: fn(&mut Filters, String)| {
        view! {
            <div class="filter">
                <label for=id>{label}</label>
                <input
                    id=id
                    type="search"
                    placeholder=placeholder
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        filters.update(|f| set(f, value.trim().to_owned()));
                    }
                />
            </div>
        }
    };
    view! {
        <PageHeader title="Events"/>
        <form class="toolbar filters" aria-label="Filter events" on:submit=|ev| ev.prevent_default()>
            <div class="filter">
                <label for="event-action">"Action"</label>
                <select
                    id="event-action"
                    on:change=move |ev| {
                        let value = event_target_value(&ev);
                        filters.update(|f| f.action = value);
                    }
                >
                    <option value="">"Any action"</option>
                    {ACTIONS
                        .iter()
                        .map(|(value, label)| view! { <option value=*value>{*label}</option> })
                        .collect_view()}
                </select>
            </div>
            {text_filter("event-user", "User", "Username", |f, v| f.username = v)}
            {text_filter("event-ip", "Client IP", "e.g. 127.0.0.1", |f, v| f.client_ip = v)}
            {text_filter("event-since", "From (UTC)", "2026-12-01T00:00:00Z", |f, v| f.since = v)}
            {text_filter("event-until", "To (UTC)", "2026-12-31T23:59:59Z", |f, v| f.until = v)}
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading events…"</p> }>
            {move || Suspend::new(async move {
                match events.await {
                    Ok(rows) if rows.is_empty() => view! { <p data-testid="events-empty">"No events match."</p> }.into_any(),
                    Ok(rows) => view! { <EventTable rows/> }.into_any(),
                    Err(e) => crate::admin::widgets::failure(&e).into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn EventTable(rows: Vec<EventRow>) -> impl IntoView {
    view! {
        <table class="admin-table" data-testid="event-list">
            <thead>
                <tr>
                    <th scope="col">"Time (UTC)"</th>
                    <th scope="col">"Action"</th>
                    <th scope="col">"User"</th>
                    <th scope="col">"Client IP"</th>
                    <th scope="col">"Details"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|e| {
                        let label = ACTIONS
                            .iter()
                            .find(|(v, _)| *v == e.action)
                            .map_or(e.action.clone(), |(_, l)| (*l).to_owned());
                        let time = e.created.get(..19).unwrap_or(&e.created).replace('T', " ");
                        view! {
                            <tr data-testid="event" data-action=e.action.clone()>
                                <td>{time}</td>
                                <td>{label}</td>
                                <td>{e.username()}</td>
                                <td>{e.client_ip.clone().unwrap_or_default()}</td>
                                <td>{e.summary()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
