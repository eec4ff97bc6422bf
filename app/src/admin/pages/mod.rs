//! One module per admin page.

pub mod blueprints;
pub mod events;
pub mod flow_diagram;
pub mod flow_editor;
pub mod flow_fields;
pub mod flow_lint;
pub mod flow_simulate;
pub mod flow_versions;
pub mod flows;
pub mod groups;
pub mod invitations;
pub mod object_form;
pub mod overview;
pub mod policies;
pub mod policy_bindings;
pub mod prompts;
pub mod stages;
pub mod user_security;
pub mod users;

use leptos::prelude::*;

#[component]
pub fn NotFoundPage() -> impl IntoView {
    view! {
        <super::widgets::PageHeader title="Page not found"/>
        <p>
            <a href="/if/admin/">"Go to the admin start page"</a>
        </p>
    }
}
