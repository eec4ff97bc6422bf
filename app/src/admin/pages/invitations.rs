//! Placeholder: this page is being built (issue #14).

use leptos::prelude::*;

#[component]
pub fn InvitationsPage() -> impl IntoView {
    view! {
        <crate::admin::widgets::PageHeader title="Invitations"/>
        <p class="muted">"Not built yet."</p>
    }
}
