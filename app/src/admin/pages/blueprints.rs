//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn BlueprintsPage() -> impl IntoView {
    view! {
        <crate::admin::widgets::PageHeader title="Blueprints"/>
        <p class="muted">"Not built yet."</p>
    }
}
