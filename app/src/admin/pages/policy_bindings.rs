//! The policies bound to one target (a flow, or one of its stage bindings): list them in
//! evaluation order, bind another policy (with order, negate, timeout and failure result),
//! switch one off, remove one. Used by the flow editor at both levels.

use leptos::prelude::*;
use serde_json::json;

use crate::admin::api;
use crate::admin::model::{collection, Policy, PolicyBinding};
use crate::admin::widgets::{CheckBox, ConfirmDelete, FieldError, FormAlert, FormError, TextInput};

#[component]
pub fn PolicyBindings(
    /// The flow's or the stage binding's pk.
    #[prop(into)]
    target: String,
    /// What the bound policies decide, in words ("whether the flow applies").
    #[prop(into)]
    decides: String,
    /// Called after every change (the editor re-reads what depends on it).
    #[prop(optional)]
    on_change: Option<Callback<()>>,
) -> impl IntoView {
    let version = RwSignal::new(0u32);
    let target_for_list = target.clone();
    let bindings = Resource::new(
        move || (target_for_list.clone(), version.get()),
        |(target, _)| async move {
            api::list::<PolicyBinding>(collection::POLICY_BINDINGS, &[("target", &target)]).await
        },
    );
    let changed = Callback::new(move |()| {
        version.update(|v| *v += 1);
        if let Some(callback) = on_change {
            callback.run(());
        }
    });
    let prefix = format!("pb-{target}-");
    view! {
        <div class="policy-bindings" data-testid="policy-bindings">
            <p class="help">{format!("Policies decide {decides}.")}</p>
            <Transition fallback=|| view! { <p class="muted">"Loading policies…"</p> }>
                {move || Suspend::new(async move {
                    match bindings.await {
                        Ok(rows) if rows.is_empty() => {
                            view! { <p class="muted">"No policies bound."</p> }.into_any()
                        }
                        Ok(rows) => {
                            view! {
                                <ul class="bound-policies">
                                    {rows
                                        .into_iter()
                                        .map(|b| view! { <BoundPolicy binding=b changed/> })
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
            <BindPolicy target prefix changed/>
        </div>
    }
}

#[component]
fn BoundPolicy(binding: PolicyBinding, changed: Callback<()>) -> impl IntoView {
    let name = binding
        .policy_obj
        .as_ref()
        .map_or_else(|| "(a group or user)".to_owned(), |p| p.name.clone());
    let mut details = vec![format!("order {}", binding.order)];
    if binding.negate {
        details.push("negated".into());
    }
    details.push(format!("timeout {} s", binding.timeout));
    details.push(format!(
        "on error: {}",
        if binding.failure_result {
            "pass"
        } else {
            "fail"
        }
    ));
    let error: FormError = RwSignal::new(None);
    let pk = binding.pk.clone();
    let enabled = binding.enabled;
    let toggle = Action::new(move |on: &bool| {
        let (pk, on) = (pk.clone(), *on);
        async move {
            api::update::<PolicyBinding>(collection::POLICY_BINDINGS, &pk, json!({ "enabled": on }))
                .await
                .map(|_| ())
        }
    });
    let pk = binding.pk.clone();
    let remove = Action::new(move |_: &()| {
        let pk = pk.clone();
        async move { api::delete(collection::POLICY_BINDINGS, &pk).await }
    });
    let settle = move |result: Option<Result<(), api::AdminFnError>>| match result {
        Some(Ok(())) => changed.run(()),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    };
    Effect::new(move |_| settle(toggle.value().get()));
    Effect::new(move |_| settle(remove.value().get()));
    view! {
        <li data-testid="bound-policy" class:disabled=!enabled>
            <strong>{name.clone()}</strong>
            " "
            <span class="muted">{details.join(", ")}</span>
            {(!enabled).then(|| view! { " " <em>"(switched off)"</em> })}
            " "
            <button type="button" class="button" on:click=move |_| {
                toggle.dispatch(!enabled);
            }>{if enabled { "Switch off" } else { "Switch on" }}</button>
            <ConfirmDelete
                what=format!("the binding of policy “{name}”")
                label="Unbind"
                on_confirm=Callback::new(move |()| {
                    remove.dispatch(());
                })
            />
            <FormAlert error/>
        </li>
    }
}

#[component]
fn BindPolicy(target: String, prefix: String, changed: Callback<()>) -> impl IntoView {
    let policies = Resource::new(
        || (),
        |_| async move { api::list::<Policy>(collection::POLICIES, &[]).await },
    );
    let policy = RwSignal::new(String::new());
    let order = RwSignal::new("0".to_owned());
    let timeout = RwSignal::new("30".to_owned());
    let negate = RwSignal::new(false);
    let failure_result = RwSignal::new(false);
    let error: FormError = RwSignal::new(None);
    let create = Action::new(move |body: &serde_json::Value| {
        let body = body.clone();
        async move { api::create::<PolicyBinding>(collection::POLICY_BINDINGS, body).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            policy.set(String::new());
            changed.run(());
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let number = |text: String| {
        text.trim()
            .parse::<i64>()
            .map_or_else(|_| json!(text), |n| json!(n))
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let chosen = policy.get();
        create.dispatch(json!({
            "target": target,
            "policy": if chosen.is_empty() { serde_json::Value::Null } else { json!(chosen) },
            "order": number(order.get()),
            "timeout": number(timeout.get()),
            "negate": negate.get(),
            "failure_result": failure_result.get(),
            "enabled": true,
        }));
    };
    let select_id = format!("{prefix}policy");
    view! {
        <form class="bind-policy" on:submit=submit data-testid="bind-policy">
            <div class="form-row">
                <label for=select_id.clone()>"Policy"</label>
                <Transition fallback=|| view! { <select disabled=true></select> }>
                    {
                        let select_id = select_id.clone();
                        move || {
                            let select_id = select_id.clone();
                            Suspend::new(async move {
                                let rows = policies.await.unwrap_or_default();
                                view! {
                                    <select
                                        id=select_id.clone()
                                        aria-describedby=format!("{select_id}-error")
                                        prop:value=move || policy.get()
                                        on:change=move |ev| policy.set(event_target_value(&ev))
                                    >
                                        <option value="">"Choose a policy…"</option>
                                        {rows
                                            .into_iter()
                                            .map(|p| {
                                                let label = format!("{} ({})", p.name, p.verbose_name);
                                                view! { <option value=p.pk>{label}</option> }
                                            })
                                            .collect_view()}
                                    </select>
                                }
                            })
                        }
                    }
                </Transition>
                <FieldError error field="policy" id=format!("{prefix}policy")/>
            </div>
            <TextInput label="Order" field="order" value=order error id_prefix=prefix.clone() input_type="number"/>
            <TextInput label="Timeout (seconds)" field="timeout" value=timeout error id_prefix=prefix.clone() input_type="number"/>
            <CheckBox label="Negate the result" field="negate" value=negate id_prefix=prefix.clone()/>
            <CheckBox label="Pass when the policy fails to run" field="failure_result" value=failure_result id_prefix=prefix.clone()/>
            <FormAlert error fields=&["policy", "order", "timeout"]/>
            <button type="submit" class="button">"Bind policy"</button>
        </form>
    }
}
