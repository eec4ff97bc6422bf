//! `/if/admin/policies/`: every policy, searchable, and a form to create one of any kind;
//! `/if/admin/policies/<pk>/`: edit one. Each kind's form is generated from its field table
//! ([`kind_fields`]); an expression is compiled by the server's `check` action before it is
//! saved, and a syntax error names its line and column (and marks the line).

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::admin::api::{self, AdminFnError};
use crate::admin::config_form::{CodeArea, ConfigFields, FieldKind, FormField};
use crate::admin::model::{collection, Policy, TypeCreate};
use crate::admin::widgets::{
    CheckBox, ConfirmDelete, FieldError, FormAlert, FormError, PageHeader, SearchList, TextInput,
};

use FieldKind::{Integer, Switch, Text};

/// The configuration fields of a policy kind (an expression has its own editor).
fn kind_fields(kind: &str) -> Vec<FormField> {
    let f = FormField::new;
    match kind {
        "password" => vec![
            f("password_field", "Field holding the password", Text)
                .help("The prompt field key the password is read from, usually \"password\"."),
            f("length_min", "Minimum length", Integer),
            f("amount_digits", "Minimum digits", Integer),
            f("amount_uppercase", "Minimum uppercase letters", Integer),
            f("amount_lowercase", "Minimum lowercase letters", Integer),
            f("amount_symbols", "Minimum symbols", Integer),
            f("symbol_charset", "Characters counted as symbols", Text),
            f("error_message", "Error message", Text),
            f("check_static_rules", "Check the rules above", Switch),
            f("check_have_i_been_pwned", "Check Have I Been Pwned", Switch),
            f("hibp_allowed_count", "Allowed breach count", Integer),
            f("check_zxcvbn", "Check the strength (zxcvbn)", Switch),
            f(
                "zxcvbn_score_threshold",
                "Minimum strength score (0–4)",
                Integer,
            ),
        ],
        "reputation" => vec![
            f("check_ip", "Check the client IP's reputation", Switch),
            f("check_username", "Check the username's reputation", Switch),
            f("threshold", "Threshold", Integer)
                .help("Passes while the reputation is above this (failed logins lower it)."),
        ],
        "dummy" => vec![
            f("result", "Result", Switch),
            f("wait_min", "Wait at least (seconds)", Integer),
            f("wait_max", "Wait at most (seconds)", Integer),
        ],
        _ => Vec::new(),
    }
}

/// The kind (`expression`, …) of a policy or policy type, from its form component
/// (`ak-policy-<kind>-form`).
fn kind_of(component: &str) -> String {
    component
        .strip_prefix("ak-policy-")
        .and_then(|rest| rest.strip_suffix("-form"))
        .unwrap_or_default()
        .to_owned()
}

/// What the server's `check` answers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct ExpressionCheck {
    valid: bool,
    message: String,
    line: Option<usize>,
    column: Option<usize>,
}

/// Compiles `code` on the server: `Ok(None)` when it compiles, `Ok(Some((message, line)))`.
async fn check_expression(code: String) -> Result<Option<(String, Option<usize>)>, AdminFnError> {
    let check: ExpressionCheck = api::action(
        collection::EXPRESSION_POLICIES,
        None,
        "check",
        json!({ "expression": code }),
    )
    .await?;
    if check.valid {
        return Ok(None);
    }
    let message = match (check.line, check.column) {
        (Some(line), Some(column)) => format!("Line {line}, column {column}: {}", check.message),
        _ => check.message,
    };
    Ok(Some((message, check.line)))
}

fn field_error(field: &str, message: String) -> AdminFnError {
    AdminFnError::Invalid([(field.to_owned(), vec![message])].into_iter().collect())
}

#[component]
pub fn PoliciesPage() -> impl IntoView {
    view! {
        <PageHeader title="Policies"/>
        <SearchList
            collection=collection::POLICIES
            noun="policies"
            input_id="policy-search"
            placeholder="Name"
            table=|rows| view! { <PolicyTable rows/> }.into_any()
        />
        <CreatePolicy/>
    }
}

#[component]
fn PolicyTable(rows: Vec<Policy>) -> impl IntoView {
    view! {
        <table class="admin-table" data-testid="policy-list">
            <thead>
                <tr>
                    <th scope="col">"Name"</th>
                    <th scope="col">"Type"</th>
                    <th scope="col">"Bindings"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|p| {
                        let href = format!("/if/admin/policies/{}/", p.pk);
                        view! {
                            <tr>
                                <td><a href=href>{p.name}</a></td>
                                <td>{p.verbose_name}</td>
                                <td>{p.bound_to}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn CreatePolicy() -> impl IntoView {
    let types = Resource::new(
        || (),
        |_| async move {
            api::action::<Vec<TypeCreate>>(collection::POLICIES, None, "types", json!({})).await
        },
    );
    let kind = RwSignal::new("expression".to_owned());
    view! {
        <section class="admin-card" aria-labelledby="create-policy-heading">
            <h2 id="create-policy-heading">"Create a policy"</h2>
            <div class="form-row">
                <label for="new-policy-kind">"Type"</label>
                <Transition fallback=|| view! { <select id="new-policy-kind" disabled=true></select> }>
                    {move || Suspend::new(async move {
                        let rows = types.await.unwrap_or_default();
                        view! {
                            <select
                                id="new-policy-kind"
                                prop:value=move || kind.get()
                                on:change=move |ev| kind.set(event_target_value(&ev))
                            >
                                {rows
                                    .into_iter()
                                    .map(|t| {
                                        let value = kind_of(&t.component);
                                        view! { <option value=value.clone() selected=move || kind.get() == value>{t.name}</option> }
                                    })
                                    .collect_view()}
                            </select>
                        }
                    })}
                </Transition>
            </div>
            {move || {
                let kind = kind.get();
                view! { <PolicyForm kind policy=None/> }
            }}
        </section>
    }
}

#[component]
pub fn PolicyPage() -> impl IntoView {
    let params = use_params_map();
    let pk = Memo::new(move |_| params.with(|p| p.get("pk").unwrap_or_default()));
    let policy = Resource::new(
        move || pk.get(),
        |pk| async move { api::get::<Policy>(collection::POLICIES, &pk).await },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the policy…"</p> }>
            {move || Suspend::new(async move {
                // `policies/all` gives the shared fields; the kind's collection gives the rest.
                let loaded = match policy.await {
                    Ok(p) => {
                        let kind = kind_of(&p.component);
                        api::get::<Policy>(&format!("policies/{kind}"), &p.pk).await.map(|p| (kind, p))
                    }
                    Err(e) => Err(e),
                };
                match loaded {
                    Ok((kind, policy)) => {
                        view! {
                            <PageHeader title=format!("Policy: {}", policy.name)/>
                            <p class="muted">
                                {policy.verbose_name.clone()} " · bound " {policy.bound_to} " time(s)"
                            </p>
                            <section class="admin-card">
                                <PolicyForm kind policy=Some(policy)/>
                            </section>
                        }
                            .into_any()
                    }
                    Err(e) => view! { <PageHeader title="Policy"/> {crate::admin::widgets::failure(&e)} }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Create (`policy` is `None`) or edit a policy of `kind`.
#[component]
fn PolicyForm(kind: String, policy: Option<Policy>) -> impl IntoView {
    let navigate = use_navigate();
    let editing = policy.clone();
    let name = RwSignal::new(policy.as_ref().map(|p| p.name.clone()).unwrap_or_default());
    let execution_logging = RwSignal::new(policy.as_ref().is_some_and(|p| p.execution_logging));
    let config = RwSignal::new(
        policy
            .as_ref()
            .map(|p| p.config.clone())
            .unwrap_or_default(),
    );
    let expression = RwSignal::new(
        config
            .with_untracked(|c| {
                c.get("expression")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_default(),
    );
    let marked = RwSignal::new(None::<usize>);
    let error: FormError = RwSignal::new(None);
    let status = RwSignal::new(String::new());
    let is_expression = kind == "expression";
    let fields = kind_fields(&kind);
    let kind_collection = format!("policies/{kind}");
    let save = Action::new(move |body: &Map<String, Value>| {
        let (body, collection, editing) = (body.clone(), kind_collection.clone(), editing.clone());
        async move {
            if is_expression {
                let code = body
                    .get("expression")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some((message, line)) =
                    check_expression(code).await.map_err(|e| (e, None))?
                {
                    return Err((field_error("expression", message), line));
                }
            }
            let body = Value::Object(body);
            let saved = match &editing {
                Some(p) => api::update::<Policy>(&collection, &p.pk, body).await,
                None => api::create::<Policy>(&collection, body).await,
            };
            saved.map_err(|e| (e, None))
        }
    });
    let created = policy.is_none();
    Effect::new(move |_| match save.value().get() {
        Some(Ok(saved)) => {
            error.set(None);
            marked.set(None);
            status.set("Saved.".into());
            if created {
                navigate(
                    &format!("/if/admin/policies/{}/", saved.pk),
                    Default::default(),
                );
            }
        }
        Some(Err((e, line))) => {
            status.set(String::new());
            marked.set(line);
            error.set(Some(e));
        }
        None => {}
    });
    let check = Action::new(move |code: &String| check_expression(code.clone()));
    Effect::new(move |_| match check.value().get() {
        Some(Ok(None)) => {
            error.set(None);
            marked.set(None);
            status.set("The expression compiles.".into());
        }
        Some(Ok(Some((message, line)))) => {
            status.set(String::new());
            marked.set(line);
            error.set(Some(field_error("expression", message)));
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        status.set(String::new());
        let mut body = config.get();
        body.insert("name".into(), json!(name.get()));
        body.insert("execution_logging".into(), json!(execution_logging.get()));
        if is_expression {
            body.insert("expression".into(), json!(expression.get()));
        }
        save.dispatch(body);
    };
    let prefix = if created { "new-policy-" } else { "policy-" };
    let remove = policy.clone().map(|p| {
        let navigate = use_navigate();
        let pk = p.pk.clone();
        let delete = Action::new(move |_: &()| {
            let pk = pk.clone();
            async move { api::delete(collection::POLICIES, &pk).await }
        });
        Effect::new(move |_| match delete.value().get() {
            Some(Ok(())) => navigate("/if/admin/policies/", Default::default()),
            Some(Err(e)) => error.set(Some(e)),
            None => {}
        });
        view! {
            <ConfirmDelete
                what=format!("the policy “{}”", p.name)
                on_confirm=Callback::new(move |()| {
                    delete.dispatch(());
                })
            />
        }
    });
    let mut shown: Vec<String> = vec!["name".into(), "expression".into()];
    shown.extend(fields.iter().map(|f| f.key.clone()));
    view! {
        <form on:submit=submit data-testid="policy-form">
            <TextInput label="Name" field="name" value=name error id_prefix=prefix/>
            {is_expression
                .then(|| {
                    let id = format!("{prefix}expression");
                    view! {
                        <div class="form-row">
                            <label for=id.clone()>"Expression (Python)"</label>
                            <CodeArea
                                id=id.clone()
                                value=Signal::derive(move || expression.get())
                                on_input=Callback::new(move |text| expression.set(text))
                                error_id=format!("{id}-error")
                                marked_line=Signal::derive(move || marked.get())
                            />
                            <p class="help">
                                "Return True to pass. "
                                <code>"request"</code> ", " <code>"ak_message()"</code> ", " <code>"ak_is_group_member()"</code>
                                " and the other helpers of authentik work as documented."
                            </p>
                            <FieldError error field="expression" id=id/>
                            <button type="button" class="button" on:click=move |_| {
                                check.dispatch(expression.get_untracked());
                            }>"Check the expression"</button>
                        </div>
                    }
                })}
            <ConfigFields fields values=config error id_prefix=prefix/>
            <CheckBox label="Log every evaluation as an event" field="execution_logging" value=execution_logging id_prefix=prefix/>
            <FormAlert error fields=shown/>
            <p role="status" class="saved">{move || status.get()}</p>
            <div class="form-actions">
                <button type="submit" class="button primary">
                    {if created { "Create policy" } else { "Save policy" }}
                </button>
                {remove}
            </div>
        </form>
    }
}
