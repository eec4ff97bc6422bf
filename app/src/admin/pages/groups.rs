//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn GroupsPage() -> impl IntoView {
    view! {
        <crate::admin::widgets::PageHeader title="Groups"/>
        <p class="muted">"Not built yet."</p>
    }
}
