//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn PoliciesPage() -> impl IntoView {
    view! {
        <crate::admin::widgets::PageHeader title="Policies"/>
        <p class="muted">"Not built yet."</p>
    }
}
