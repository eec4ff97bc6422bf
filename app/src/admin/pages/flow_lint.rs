//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn LintTab() -> impl IntoView {
    view! {

        <p class="muted">"Not built yet."</p>
    }
}
