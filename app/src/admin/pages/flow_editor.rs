//! `/if/admin/flows/<slug>/`: one flow. The page holds the flow's heading and its tabs
//! (bindings, diagram, simulator, versions, linter); each tab is a nested route that reads the
//! flow through [`FlowCx`]. The bindings tab edits the flow's settings and its stage bindings.
//!
//! Reordering (drag and drop, the move buttons, or an edited order number) is saved at once:
//! a move sends the whole new sequence to the atomic `reorder_bindings` action, and the list
//! is then re-read from the server, so what is shown is what was stored — and what the
//! planner runs (it orders bindings the same way, `order` then id).

use leptos::prelude::*;
use leptos_router::{
    components::{Outlet, A},
    hooks::{use_navigate, use_params_map},
};
use serde_json::json;

use super::flow_fields::{FlowDraft, FlowFields, FLOW_FIELDS};
use crate::admin::api::{self, AdminFnError};
use crate::admin::model::{choices, collection, Binding, Flow, StageSummary};
use crate::admin::widgets::{
    CheckBox, ChoiceSelect, ConfirmDelete, FormAlert, FormError, PageHeader, TextInput,
};

/// The flow being edited, shared with the tabs. Two counters say what changed, so a save
/// re-reads only what it touched: a form that re-rendered on every save would lose its own
/// state (the "Saved." notice, the focus after a move, the announcement of a move).
#[derive(Clone, Copy)]
pub struct FlowCx {
    /// The slug in the path.
    pub slug: Memo<String>,
    /// Bumped after the flow's own fields are saved.
    pub version: RwSignal<u32>,
    /// Bumped after a binding is added, changed, moved or removed.
    pub bindings_version: RwSignal<u32>,
}

impl FlowCx {
    /// The flow's own fields changed.
    pub fn changed(&self) {
        self.version.update(|v| *v += 1);
    }

    /// The flow's bindings changed.
    pub fn bindings_changed(&self) {
        self.bindings_version.update(|v| *v += 1);
    }
}

/// The [`FlowCx`] of the page (the tabs are only rendered inside it).
pub fn use_flow() -> FlowCx {
    expect_context::<FlowCx>()
}

#[component]
pub fn FlowEditorPage() -> impl IntoView {
    let params = use_params_map();
    let slug = Memo::new(move |_| params.with(|p| p.get("slug").unwrap_or_default()));
    let version = RwSignal::new(0);
    let flow = Resource::new(
        move || (slug.get(), version.get()),
        |(slug, _)| async move { api::get::<Flow>(collection::FLOWS, &slug).await },
    );
    provide_context(FlowCx {
        slug,
        version,
        bindings_version: RwSignal::new(0),
    });
    let tab = move |suffix: &'static str, label: &'static str| {
        view! {
            <li>
                <A href=move || format!("/if/admin/flows/{}/{suffix}", slug.get())>{label}</A>
            </li>
        }
    };
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading the flow…"</p> }>
            {move || Suspend::new(async move {
                match flow.await {
                    Ok(flow) => {
                        let open = format!("/if/flow/{}/", flow.slug);
                        view! {
                            <PageHeader title=format!("Flow: {}", flow.name)>
                                <a class="button" href=open rel="external" target="_blank">
                                    "Open the flow"
                                </a>
                            </PageHeader>
                            <p class="muted">
                                <code>{flow.slug}</code>
                                " · "
                                {flow.title}
                            </p>
                        }
                            .into_any()
                    }
                    Err(e) => {
                        view! {
                            <PageHeader title="Flow"/>
                            {crate::admin::widgets::failure(&e)}
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
        <nav aria-label="Flow tools">
            <ul class="tabs">
                {tab("", "Stage bindings")}
                {tab("diagram/", "Diagram")}
                {tab("simulate/", "Simulator")}
                {tab("versions/", "Versions")}
                {tab("lint/", "Linter")}
            </ul>
        </nav>
        <Outlet/>
    }
}

/// The flow's settings and its stage bindings. The tab reads the flow once per slug (not on
/// every save), so its forms keep their state while the header follows each save.
#[component]
pub fn BindingsTab() -> impl IntoView {
    let cx = use_flow();
    let flow = Resource::new(
        move || cx.slug.get(),
        |slug| async move { api::get::<Flow>(collection::FLOWS, &slug).await },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match flow.await {
                    Ok(flow) => {
                        let flow_pk = flow.pk.clone();
                        view! {
                            <BindingList flow=flow.clone()/>
                            <section class="admin-card" aria-labelledby="flow-policies-heading">
                                <h2 id="flow-policies-heading">"Flow policies"</h2>
                                <super::policy_bindings::PolicyBindings
                                    target=flow_pk
                                    decides="whether the flow applies at all (checked when it starts)"
                                />
                            </section>
                            <FlowSettings flow/>
                        }
                            .into_any()
                    }
                    Err(e) => crate::admin::widgets::failure(&e).into_any(),
                }
            })}
        </Transition>
    }
}

/// The bindings of flow `pk`, first runs first.
pub async fn load_bindings(flow_pk: &str) -> Result<Vec<Binding>, AdminFnError> {
    api::list::<Binding>(
        collection::BINDINGS,
        &[("target", flow_pk), ("ordering", "order")],
    )
    .await
}

/// A stage's name for lists ("(missing stage)" when the binding points nowhere).
fn stage_name(binding: &Binding) -> String {
    binding
        .stage_obj
        .as_ref()
        .map_or_else(|| "(missing stage)".to_owned(), |s| s.name.clone())
}

/// What the list shares with its rows: the drag in progress, the move to announce, and which
/// row's button gets the focus back after the list is re-read.
/// Saves a new order: `(binding pks in order, pk of the moved binding, its new index)`.
type ReorderAction = Action<(Vec<String>, String, usize), Result<Vec<Binding>, AdminFnError>>;

#[derive(Clone, Copy)]
struct ListCx {
    dragging: RwSignal<Option<usize>>,
    over: RwSignal<Option<usize>>,
    /// `(binding pk, its new index, "up" | "down")`: the button to focus once the moved row is
    /// rendered at its new place. The index tells the new row from the old one, which is still
    /// mounted (with the same pk) until the list is re-read.
    refocus: RwSignal<Option<(String, usize, &'static str)>>,
    error: FormError,
    reorder: ReorderAction,
}

#[component]
fn BindingList(flow: Flow) -> impl IntoView {
    let cx = use_flow();
    let flow_pk = flow.pk.clone();
    let bindings = Resource::new(
        move || (flow_pk.clone(), cx.bindings_version.get()),
        |(pk, _)| async move { load_bindings(&pk).await },
    );
    let slug = flow.slug.clone();
    let error: FormError = RwSignal::new(None);
    let announce = RwSignal::new(String::new());
    let last_move = RwSignal::new(None::<(String, usize)>);
    let reorder = Action::new(
        move |(pks, name, position): &(Vec<String>, String, usize)| {
            last_move.set(Some((name.clone(), *position)));
            let slug = slug.clone();
            let body = json!({ "bindings": pks });
            async move {
                api::action::<Vec<Binding>>(
                    collection::FLOWS,
                    Some(&slug),
                    "reorder_bindings",
                    body,
                )
                .await
            }
        },
    );
    let list = ListCx {
        dragging: RwSignal::new(None),
        over: RwSignal::new(None),
        refocus: RwSignal::new(None),
        error,
        reorder,
    };
    Effect::new(move |_| {
        let Some(result) = reorder.value().get() else {
            return;
        };
        match result {
            Ok(_) => {
                // The action's input is cleared once it is done: the move is remembered apart.
                if let Some((name, position)) = last_move.get_untracked() {
                    announce.set(format!("{name} moved to position {}.", position + 1));
                }
                error.set(None);
            }
            Err(e) => error.set(Some(e)),
        }
        cx.bindings_changed();
    });
    let flow_pk = flow.pk.clone();
    view! {
        <section class="admin-card" aria-labelledby="bindings-heading">
            <h2 id="bindings-heading">"Stage bindings"</h2>
            <p class="help">
                "Drag a stage, use its move buttons, or change its order number: the new order is saved at once, and the flow runs in exactly this order."
            </p>
            <p class="visually-hidden" aria-live="polite" data-testid="reorder-status">
                {move || announce.get()}
            </p>
            <FormAlert error/>
            <Transition fallback=|| view! { <p class="muted">"Loading bindings…"</p> }>
                {move || Suspend::new(async move {
                    match bindings.await {
                        Ok(rows) if rows.is_empty() => {
                            view! { <p data-testid="bindings-empty">"No stages are bound yet."</p> }
                                .into_any()
                        }
                        Ok(rows) => view! { <BindingRows rows list/> }.into_any(),
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
            <AddBinding flow_pk/>
        </section>
    }
}

#[component]
fn BindingRows(rows: Vec<Binding>, list: ListCx) -> impl IntoView {
    let count = rows.len();
    let pks: Vec<String> = rows.iter().map(|b| b.pk.clone()).collect();
    let names: Vec<String> = rows.iter().map(stage_name).collect();
    // The sequence with the binding at `from` moved to `to`, sent as one reorder.
    let move_to = move |from: usize, to: usize| {
        if from == to || from >= count || to >= count {
            return;
        }
        let mut order = pks.clone();
        let moved = order.remove(from);
        order.insert(to, moved.clone());
        list.reorder.dispatch((order, names[from].clone(), to));
    };
    view! {
        <ol class="bindings" data-testid="bindings">
            {rows
                .into_iter()
                .enumerate()
                .map(|(index, binding)| {
                    view! { <BindingRow index count binding list move_to=move_to.clone()/> }
                })
                .collect_view()}
        </ol>
    }
}

#[component]
fn BindingRow<F>(
    index: usize,
    count: usize,
    binding: Binding,
    list: ListCx,
    move_to: F,
) -> impl IntoView
where
    F: Fn(usize, usize) + Clone + Send + Sync + 'static,
{
    let cx = use_flow();
    let name = stage_name(&binding);
    let kind = binding
        .stage_obj
        .as_ref()
        .map(|s: &StageSummary| {
            if s.verbose_name.is_empty() {
                s.component.clone()
            } else {
                s.verbose_name.clone()
            }
        })
        .unwrap_or_default();
    let pk = binding.pk.clone();
    let order_id = format!("order-{pk}");
    let order_error: FormError = RwSignal::new(None);
    let up_ref = NodeRef::<leptos::html::Button>::new();
    let down_ref = NodeRef::<leptos::html::Button>::new();
    {
        let pk = pk.clone();
        Effect::new(move |_| {
            let Some((target, position, which)) = list.refocus.get() else {
                return;
            };
            if target != pk || position != index {
                return;
            }
            // The same direction again, unless the row reached that end (a disabled button
            // cannot hold the focus).
            let up = (which == "up" && index > 0) || index + 1 >= count;
            let button = if up {
                up_ref.get().or_else(|| down_ref.get())
            } else {
                down_ref.get().or_else(|| up_ref.get())
            };
            // Not mounted yet: the node refs are tracked, so this runs again once they are.
            let Some(button) = button else {
                return;
            };
            let _ = button.focus();
            list.refocus.set(None);
        });
    }
    let save_order = {
        let pk = pk.clone();
        Action::new(move |text: &String| {
            let pk = pk.clone();
            let value = text
                .trim()
                .parse::<i64>()
                .map_or_else(|_| json!(text), |n| json!(n));
            async move {
                api::update::<Binding>(collection::BINDINGS, &pk, json!({ "order": value })).await
            }
        })
    };
    Effect::new(move |_| match save_order.value().get() {
        Some(Ok(_)) => {
            order_error.set(None);
            cx.bindings_changed();
        }
        Some(Err(e)) => order_error.set(Some(e)),
        None => {}
    });
    let remove = {
        let pk = pk.clone();
        Action::new(move |_: &()| {
            let pk = pk.clone();
            async move { api::delete(collection::BINDINGS, &pk).await }
        })
    };
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => cx.bindings_changed(),
        Some(Err(e)) => list.error.set(Some(e)),
        None => {}
    });
    let policies_opened = RwSignal::new(false);
    let policies_target = pk.clone();
    let (move_up, move_down) = (move_to.clone(), move_to.clone());
    let (pk_up, pk_down) = (pk.clone(), pk.clone());
    let drop_here = move_to;
    view! {
        <li
            class="binding"
            class:drag-over=move || list.over.get() == Some(index) && list.dragging.get() != Some(index)
            draggable="true"
            data-testid="binding"
            data-pk=pk.clone()
            on:dragstart=move |ev| {
                list.dragging.set(Some(index));
                #[cfg(feature = "hydrate")]
                if let Some(transfer) = ev.data_transfer() {
                    transfer.set_effect_allowed("move");
                    let _ = transfer.set_data("text/plain", &index.to_string());
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = ev;
            }
            on:dragover=move |ev| {
                ev.prevent_default();
                list.over.set(Some(index));
            }
            on:dragleave=move |_| {
                if list.over.get_untracked() == Some(index) {
                    list.over.set(None);
                }
            }
            on:drop=move |ev| {
                ev.prevent_default();
                if let Some(from) = list.dragging.get_untracked() {
                    list.refocus.set(None);
                    drop_here(from, index);
                }
                list.dragging.set(None);
                list.over.set(None);
            }
            on:dragend=move |_| {
                list.dragging.set(None);
                list.over.set(None);
            }
        >
            <span class="drag-handle" aria-hidden="true" title="Drag to reorder">
                "⠿"
            </span>
            <span class="binding-position" aria-hidden="true">{index + 1}"."</span>
            <span class="binding-stage">
                <strong data-testid="binding-stage">{name.clone()}</strong>
                " "
                <span class="muted">{kind}</span>
            </span>
            <span class="binding-order">
                <label for=order_id.clone()>"Order"</label>
                <input
                    id=order_id.clone()
                    class="order-input"
                    type="number"
                    step="1"
                    value=binding.order
                    aria-describedby=format!("{order_id}-error")
                    on:change=move |ev| {
                        save_order.dispatch(event_target_value(&ev));
                    }
                />
                <crate::admin::widgets::FieldError error=order_error field="order" id=order_id.clone()/>
            </span>
            <button
                type="button"
                class="button move-up"
                node_ref=up_ref
                aria-label=format!("Move {name} up")
                disabled=index == 0
                on:click=move |_| {
                    list.refocus.set(Some((pk_up.clone(), index.saturating_sub(1), "up")));
                    move_up(index, index.saturating_sub(1));
                }
            >
                "↑"
            </button>
            <button
                type="button"
                class="button move-down"
                node_ref=down_ref
                aria-label=format!("Move {name} down")
                disabled={ index + 1 >= count }
                on:click=move |_| {
                    list.refocus.set(Some((pk_down.clone(), index + 1, "down")));
                    move_down(index, index + 1);
                }
            >
                "↓"
            </button>
            <details class="binding-options">
                <summary>"Options"</summary>
                <BindingOptions binding=binding.clone()/>
            </details>
            // The panel loads its policies when first opened: a resource made in every row
            // during the server render would be read back in another order on hydration.
            <details
                class="binding-options"
                on:toggle=move |_| policies_opened.set(true)
            >
                <summary>{format!("Policies of {name}")}</summary>
                <Show when=move || policies_opened.get()>
                    <super::policy_bindings::PolicyBindings
                        target=policies_target.clone()
                        decides="whether this stage runs (when they are checked is set in its options)"
                    />
                </Show>
            </details>
            <ConfirmDelete
                what=format!("the binding of “{name}”")
                label="Remove"
                on_confirm=Callback::new(move |()| {
                    remove.dispatch(());
                })
            />
        </li>
    }
}

/// A binding's own options (authentik's `FlowStageBinding` fields besides stage and order).
#[component]
fn BindingOptions(binding: Binding) -> impl IntoView {
    let cx = use_flow();
    let prefix = format!("binding-{}-", binding.pk);
    let evaluate_on_plan = RwSignal::new(binding.evaluate_on_plan);
    let re_evaluate_policies = RwSignal::new(binding.re_evaluate_policies);
    let invalid_response_action = RwSignal::new(binding.invalid_response_action.clone());
    let policy_engine_mode = RwSignal::new(binding.policy_engine_mode.clone());
    let error: FormError = RwSignal::new(None);
    let pk = binding.pk.clone();
    let save = Action::new(move |body: &serde_json::Value| {
        let (pk, body) = (pk.clone(), body.clone());
        async move { api::update::<Binding>(collection::BINDINGS, &pk, body).await }
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            cx.bindings_changed();
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(json!({
            "evaluate_on_plan": evaluate_on_plan.get(),
            "re_evaluate_policies": re_evaluate_policies.get(),
            "invalid_response_action": invalid_response_action.get(),
            "policy_engine_mode": policy_engine_mode.get(),
        }));
    };
    view! {
        <form on:submit=submit class="binding-options-form">
            <CheckBox
                label="Evaluate policies when the flow is planned"
                field="evaluate_on_plan"
                value=evaluate_on_plan
                id_prefix=prefix.clone()
            />
            <CheckBox
                label="Evaluate policies again right before the stage runs"
                field="re_evaluate_policies"
                value=re_evaluate_policies
                id_prefix=prefix.clone()
            />
            <ChoiceSelect
                label="On an invalid response"
                field="invalid_response_action"
                choices=choices::INVALID_RESPONSE_ACTION
                value=invalid_response_action
                error
                id_prefix=prefix.clone()
            />
            <ChoiceSelect
                label="Policy engine mode"
                field="policy_engine_mode"
                choices=choices::POLICY_ENGINE_MODE
                value=policy_engine_mode
                error
                id_prefix=prefix.clone()
            />
            <FormAlert
                error
                fields=&["invalid_response_action", "policy_engine_mode"]
            />
            <button type="submit" class="button">"Save options"</button>
        </form>
    }
}

/// Binds an existing stage to the flow, by default after the last binding.
/// "Bind a stage": in the bindings tab and under the diagram.
#[component]
pub fn AddBinding(flow_pk: String) -> impl IntoView {
    let cx = use_flow();
    let stages = Resource::new(
        || (),
        |_| async move { api::list::<StageSummary>(collection::STAGES, &[]).await },
    );
    let stage = RwSignal::new(String::new());
    let order = RwSignal::new(String::new());
    let error: FormError = RwSignal::new(None);
    let create = Action::new(move |body: &serde_json::Value| {
        let body = body.clone();
        async move { api::create::<Binding>(collection::BINDINGS, body).await }
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            error.set(None);
            order.set(String::new());
            cx.bindings_changed();
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let order_text = order.get();
        let order_value = if order_text.trim().is_empty() {
            None
        } else {
            Some(
                order_text
                    .trim()
                    .parse::<i64>()
                    .map_or_else(|_| json!(order_text), |n| json!(n)),
            )
        };
        let flow_pk = flow_pk.clone();
        let stage_pk = stage.get();
        if stage_pk.is_empty() {
            error.set(Some(AdminFnError::Invalid(
                [(
                    "stage".to_owned(),
                    vec!["Choose the stage to bind.".to_owned()],
                )]
                .into_iter()
                .collect(),
            )));
            return;
        }
        leptos::task::spawn_local(async move {
            // Default: after the last binding (authentik's editor leaves this to the admin).
            let order_value = match order_value {
                Some(value) => value,
                None => {
                    let last = load_bindings(&flow_pk)
                        .await
                        .ok()
                        .and_then(|rows| rows.iter().map(|b| b.order).max())
                        .unwrap_or(0);
                    json!(last + 10)
                }
            };
            create.dispatch(json!({
                "target": flow_pk,
                "stage": stage_pk,
                "order": order_value,
            }));
        });
    };
    view! {
        <form class="add-binding" on:submit=submit data-testid="add-binding">
            <h3>"Bind a stage"</h3>
            <div class="form-row">
                <label for="add-binding-stage">"Stage"</label>
                <Transition fallback=|| view! { <select id="add-binding-stage" disabled=true></select> }>
                    {move || Suspend::new(async move {
                        match stages.await {
                            Ok(rows) => {
                                view! {
                                    <select
                                        id="add-binding-stage"
                                        name="stage"
                                        on:change=move |ev| stage.set(event_target_value(&ev))
                                        prop:value=move || stage.get()
                                        aria-describedby="add-binding-stage-error"
                                    >
                                        <option value="">"Choose a stage…"</option>
                                        {rows
                                            .into_iter()
                                            .map(|s| {
                                                let label = format!("{} ({})", s.name, s.verbose_name);
                                                view! { <option value=s.pk>{label}</option> }
                                            })
                                            .collect_view()}
                                    </select>
                                }
                                    .into_any()
                            }
                            Err(e) => crate::admin::widgets::failure(&e).into_any(),
                        }
                    })}
                </Transition>
                <crate::admin::widgets::FieldError error field="stage" id="add-binding-stage"/>
            </div>
            <TextInput
                label="Order (empty: after the last)"
                field="order"
                value=order
                error
                id_prefix="add-binding-"
                input_type="number"
            />
            <FormAlert error fields=&["stage", "order"]/>
            <button type="submit" class="button primary">"Bind stage"</button>
        </form>
    }
}

/// Every flow field authentik's `FlowRequest` has; saving sends them all (a PATCH).
#[component]
fn FlowSettings(flow: Flow) -> impl IntoView {
    let cx = use_flow();
    let navigate = use_navigate();
    let draft = FlowDraft::of(&flow);
    let error: FormError = RwSignal::new(None);
    let saved = RwSignal::new(false);
    let current_slug = flow.slug.clone();
    let save = Action::new(move |body: &serde_json::Value| {
        let (slug, body) = (current_slug.clone(), body.clone());
        async move { api::update::<Flow>(collection::FLOWS, &slug, body).await }
    });
    let old_slug = flow.slug.clone();
    let navigate_after_save = navigate.clone();
    Effect::new(move |_| match save.value().get() {
        Some(Ok(updated)) => {
            error.set(None);
            saved.set(true);
            if updated.slug != old_slug {
                navigate_after_save(
                    &format!("/if/admin/flows/{}/", updated.slug),
                    Default::default(),
                );
            } else {
                cx.changed();
            }
        }
        Some(Err(e)) => {
            saved.set(false);
            error.set(Some(e));
        }
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        save.dispatch(draft.body(true));
    };
    let delete_slug = flow.slug.clone();
    let remove = Action::new(move |_: &()| {
        let slug = delete_slug.clone();
        async move { api::delete(collection::FLOWS, &slug).await }
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => navigate("/if/admin/flows/", Default::default()),
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    });
    view! {
        <section class="admin-card" aria-labelledby="settings-heading">
            <h2 id="settings-heading">"Flow settings"</h2>
            <form on:submit=submit data-testid="flow-settings">
                <FlowFields draft error id_prefix="flow-" all=true/>
                <FormAlert error fields=FLOW_FIELDS/>
                <Show when=move || saved.get()>
                    <p class="saved" role="status">"Saved."</p>
                </Show>
                <div class="form-actions">
                    <button type="submit" class="button primary">"Save settings"</button>
                    <ConfirmDelete
                        what=format!("the flow “{}”", flow.name)
                        label="Delete flow"
                        on_confirm=Callback::new(move |()| {
                            remove.dispatch(());
                        })
                    />
                </div>
            </form>
        </section>
    }
}
