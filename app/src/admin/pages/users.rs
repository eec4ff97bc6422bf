//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <crate::admin::widgets::PageHeader title="Users"/>
        <p class="muted">"Not built yet."</p>
    }
}
