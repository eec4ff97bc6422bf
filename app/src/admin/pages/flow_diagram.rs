//! The editor's "Diagram" tab, drawn from the `diagram_model` action: the server builds it
//! from the planner's own static trace, so it shows exactly what execution does. Every node is
//! a focusable list item with its text label and its arrows written out ("if the policies
//! pass → …", "if they fail → …"), so the diagram reads the same with a screen reader.
//! Stages can be moved and removed here too (the same atomic reorder as the bindings tab).

use leptos::prelude::*;
use serde_json::json;

use super::flow_editor::use_flow;
use crate::admin::api;
use crate::admin::flow_tools::{Diagram, DiagramEdge, DiagramNode};
use crate::admin::model::{collection, Binding, Flow};
use crate::admin::widgets::{FormAlert, FormError};

#[component]
pub fn DiagramTab() -> impl IntoView {
    let cx = use_flow();
    let diagram = Resource::new(
        move || (cx.slug.get(), cx.version.get(), cx.bindings_version.get()),
        |(slug, _, _)| async move {
            api::action::<Diagram>(collection::FLOWS, Some(&slug), "diagram_model", json!({})).await
        },
    );
    let flow = Resource::new(
        move || cx.slug.get(),
        |slug| async move { api::get::<Flow>(collection::FLOWS, &slug).await },
    );
    let error: FormError = RwSignal::new(None);
    view! {
        <section class="admin-card" aria-labelledby="diagram-heading">
            <h2 id="diagram-heading">"Diagram"</h2>
            <p class="help">
                "How the flow runs, drawn by the planner itself: each stage with the policies that gate it, and where a failing gate leads. Add, move or remove stages here; a binding's policies and options are in the Stage bindings tab."
            </p>
            <FormAlert error/>
            <Transition fallback=|| view! { <p class="muted">"Drawing the flow…"</p> }>
                {move || Suspend::new(async move {
                    match diagram.await {
                        Ok(diagram) => view! { <DiagramView diagram error/> }.into_any(),
                        Err(e) => crate::admin::widgets::failure(&e).into_any(),
                    }
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    flow.await.ok().map(|flow| view! { <super::flow_editor::AddBinding flow_pk=flow.pk/> })
                })}
            </Transition>
        </section>
    }
}

/// The words for an arrow of `kind` (and its label) leading to `target`.
fn arrow_text(edge: &DiagramEdge, target: &str) -> String {
    let when = match (edge.kind.as_str(), edge.label.as_deref()) {
        ("inject", Some(label)) => format!("may add ({label})"),
        ("inject", None) => "may add".to_owned(),
        (_, Some(label)) => format!("if {label}"),
        ("pass", None) => "if it passes".to_owned(),
        ("fail", None) => "if it fails".to_owned(),
        _ => "then".to_owned(),
    };
    format!("{when} → {target}")
}

#[component]
fn DiagramView(diagram: Diagram, error: FormError) -> impl IntoView {
    let cx = use_flow();
    let label_of = |id: &str, nodes: &[DiagramNode]| {
        nodes
            .iter()
            .find(|n| n.id == id)
            .map_or_else(|| id.to_owned(), |n| n.label.clone())
    };
    // The bindings in run order, as the stage nodes list them.
    let order: Vec<String> = diagram
        .nodes
        .iter()
        .filter(|n| n.kind == "stage")
        .filter_map(|n| n.binding_id.clone())
        .collect();
    let reorder = Action::new(move |pks: &Vec<String>| {
        let (slug, body) = (cx.slug.get_untracked(), json!({ "bindings": pks }));
        async move {
            api::action::<Vec<Binding>>(collection::FLOWS, Some(&slug), "reorder_bindings", body)
                .await
        }
    });
    let remove = Action::new(move |pk: &String| {
        let pk = pk.clone();
        async move { api::delete(collection::BINDINGS, &pk).await }
    });
    let settle = move |result: Option<Result<(), api::AdminFnError>>| match result {
        Some(Ok(())) => {
            error.set(None);
            cx.bindings_changed();
        }
        Some(Err(e)) => error.set(Some(e)),
        None => {}
    };
    Effect::new(move |_| settle(reorder.value().get().map(|r| r.map(|_| ()))));
    Effect::new(move |_| settle(remove.value().get()));
    let nodes = diagram.nodes.clone();
    view! {
        <ol class="diagram" data-testid="diagram" aria-label="Flow diagram">
            {diagram
                .nodes
                .iter()
                .map(|node| {
                    let arrows: Vec<String> = diagram
                        .edges
                        .iter()
                        .filter(|e| e.from == node.id)
                        .map(|e| arrow_text(e, &label_of(&e.to, &nodes)))
                        .collect();
                    let tools = (node.kind == "stage")
                        .then(|| node.binding_id.clone())
                        .flatten()
                        .and_then(|pk| {
                            let index = order.iter().position(|p| *p == pk)?;
                            Some(view! {
                                <StageTools
                                    index
                                    order=order.clone()
                                    label=node.label.clone()
                                    reorder
                                    remove
                                />
                            })
                        });
                    view! {
                        <li
                            id=format!("node-{}", node.id)
                            class=format!("diagram-node {}", node.kind)
                            tabindex="0"
                            data-testid="diagram-node"
                            data-kind=node.kind.clone()
                        >
                            <span class="node-label">{node.label.clone()}</span>
                            <ul class="arrows">
                                {arrows.into_iter().map(|a| view! { <li>{a}</li> }).collect_view()}
                            </ul>
                            {tools}
                        </li>
                    }
                })
                .collect_view()}
        </ol>
    }
}

/// Move up / move down / remove for one stage node.
#[component]
fn StageTools(
    index: usize,
    order: Vec<String>,
    label: String,
    reorder: Action<Vec<String>, Result<Vec<Binding>, api::AdminFnError>>,
    remove: Action<String, Result<(), api::AdminFnError>>,
) -> impl IntoView {
    let count = order.len();
    let pk = order[index].clone();
    let moved = move |to: usize| {
        let mut pks = order.clone();
        let pk = pks.remove(index);
        pks.insert(to, pk);
        pks
    };
    let (up, down) = (moved.clone(), moved.clone());
    view! {
        <span class="node-tools">
            <button
                type="button"
                class="button"
                aria-label=format!("Move {label} up")
                disabled=index == 0
                on:click=move |_| {
                    reorder.dispatch(up(index.saturating_sub(1)));
                }
            >
                "↑"
            </button>
            <button
                type="button"
                class="button"
                aria-label=format!("Move {label} down")
                disabled={ index + 1 >= count }
                on:click=move |_| {
                    reorder.dispatch(down(index + 1));
                }
            >
                "↓"
            </button>
            <crate::admin::widgets::ConfirmDelete
                what=format!("the binding of “{label}”")
                label="Remove"
                on_confirm=Callback::new(move |()| {
                    remove.dispatch(pk.clone());
                })
            />
        </span>
    }
}
