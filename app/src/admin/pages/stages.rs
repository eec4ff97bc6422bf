//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn StagesPage() -> impl IntoView {
    view! {
        <crate::admin::widgets::PageHeader title="Stages"/>
        <p class="muted">"Not built yet."</p>
    }
}
