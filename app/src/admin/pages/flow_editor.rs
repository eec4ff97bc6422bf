//! `/if/admin/flows/<slug>/`: one flow. The page holds the flow's heading and its tabs
//! (bindings, diagram, simulator, versions, linter); each tab is a nested route that reads the
//! flow through [`FlowCx`].

use leptos::prelude::*;
use leptos_router::{
    components::{Outlet, A},
    hooks::use_params_map,
};

use crate::admin::api::{self, AdminFnError};
use crate::admin::model::{collection, Binding, Flow};
use crate::admin::widgets::PageHeader;

/// The flow being edited, shared with the tabs. `version` changes after every save, so every
/// tab's resources reload what changed.
#[derive(Clone, Copy)]
pub struct FlowCx {
    pub slug: Memo<String>,
    pub version: RwSignal<u32>,
}

impl FlowCx {
    /// Tells every tab the flow changed.
    pub fn changed(&self) {
        self.version.update(|v| *v += 1);
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
    let cx = FlowCx {
        slug,
        version: RwSignal::new(0),
    };
    provide_context(cx);
    let flow = Resource::new(
        move || (slug.get(), cx.version.get()),
        |(slug, _)| async move { api::get::<Flow>(collection::FLOWS, &slug).await },
    );
    let tab = move |suffix: &'static str, label: &'static str| {
        view! { <li><A href=move || format!("/if/admin/flows/{}/{suffix}", slug.get())>{label}</A></li> }
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
                        <p class="muted"><code>{flow.slug}</code>" · "{flow.title}</p>
                    }
                    .into_any()
                    }
                    Err(e) => view! { <PageHeader title="Flow"/>{crate::admin::pages::flows::failure(&e)} }.into_any(),
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

/// The flow's stage bindings, in order.
#[component]
pub fn BindingsTab() -> impl IntoView {
    let cx = use_flow();
    let bindings = Resource::new(
        move || (cx.slug.get(), cx.version.get()),
        |(slug, _)| async move { load_bindings(&slug).await },
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading bindings…"</p> }>
            {move || Suspend::new(async move {
                match bindings.await {
                    Ok(rows) => view! {
                        <ol class="bindings" data-testid="bindings">
                            {rows.into_iter().map(|b| {
                                let name = b.stage_obj.map(|s| s.name).unwrap_or_default();
                                view! { <li>{b.order}" "{name}</li> }
                            }).collect_view()}
                        </ol>
                    }.into_any(),
                    Err(e) => crate::admin::pages::flows::failure(&e).into_any(),
                }
            })}
        </Transition>
    }
}

/// The bindings of flow `slug`, first runs first.
pub async fn load_bindings(slug: &str) -> Result<Vec<Binding>, AdminFnError> {
    let flow = api::get::<Flow>(collection::FLOWS, slug).await?;
    api::list::<Binding>(
        collection::BINDINGS,
        &[("target", &flow.pk), ("ordering", "order")],
    )
    .await
}
