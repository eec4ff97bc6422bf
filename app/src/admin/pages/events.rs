//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn EventsPage() -> impl IntoView {
    view! {
        <crate::admin::widgets::PageHeader title="Events"/>
        <p class="muted">"Not built yet."</p>
    }
}
