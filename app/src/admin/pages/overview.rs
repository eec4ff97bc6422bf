//! `/if/admin/`: where to start.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::admin::widgets::PageHeader;

#[component]
pub fn OverviewPage() -> impl IntoView {
    view! {
        <PageHeader title="Administration"/>
        <ul class="overview">
            <li><A href="/if/admin/flows/">"Flows"</A>" — what people walk through: bindings, diagram, simulator, versions, linter."</li>
            <li><A href="/if/admin/stages/">"Stages"</A>" — the steps flows are made of."</li>
            <li><A href="/if/admin/policies/">"Policies"</A>" — the gates on flows and bindings."</li>
            <li><A href="/if/admin/users/">"Users"</A>" and "<A href="/if/admin/groups/">"groups"</A>"."</li>
            <li><A href="/if/admin/invitations/">"Invitations"</A>" to enrollment flows."</li>
            <li><A href="/if/admin/events/">"Events"</A>" — the audit log."</li>
            <li><A href="/if/admin/blueprints/">"Blueprints"</A>" — import and export."</li>
        </ul>
    }
}
