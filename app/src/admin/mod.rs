//! The admin interface at `/if/admin/`, for superusers: flows and their stage bindings, stages,
//! policies, users, groups, invitations, events and blueprints. Pages are Leptos components
//! (server-rendered, then hydrated) that call the server functions of [`api`], which reach the
//! admin service layer on the server; nothing here knows SQL or the rules behind a field.
//!
//! The admin app is a second WASM bundle (`frontend/admin`, output `keyflow-admin`), so the
//! login pages' bundle does not carry it. The server checks access before rendering: anonymous
//! visitors are sent to log in, other users get a 403 page.

pub mod api;
pub mod config_form;
pub mod flow_tools;
pub mod model;
mod pages;
mod widgets;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes, A},
    path,
};

/// The admin bundle's name (`/admin-pkg/keyflow-admin.<hash>.wasm`); cargo-leptos' second
/// project in Cargo.toml.
pub const OUTPUT_NAME: &str = "keyflow-admin";
/// Where the admin bundle is served from (its own site root's package directory).
pub const PKG_DIR: &str = "admin-pkg";
/// The admin build's hash file, beside the server binary.
pub const HASH_FILE: &str = "admin-hash.txt";

/// The HTML document of an admin page. `admin` names the admin bundle (scripts and
/// `admin.css`), `main` the flow pages' bundle (whose stylesheet the admin pages share).
pub fn admin_shell(admin: LeptosOptions, main: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <AutoReload options=admin.clone()/>
                <HashedStylesheet options=main id="leptos"/>
                <HashedStylesheet options=admin.clone() id="admin"/>
                <HydrationScripts options=admin/>
                <MetaTags/>
            </head>
            <body class="admin">
                <AdminApp/>
            </body>
        </html>
    }
}

#[component]
pub fn AdminApp() -> impl IntoView {
    provide_meta_context();
    view! {
        <Link rel="icon" href="/favicon.ico"/>
        <Title formatter=|text: String| format!("{text} · keyflow admin")/>
        <Router>
            <div class="admin-frame">
                <AdminHeader/>
                <main class="admin-main" id="main">
                    <Routes fallback=pages::NotFoundPage>
                        <Route path=path!("/if/admin/") view=pages::overview::OverviewPage/>
                        <Route path=path!("/if/admin/flows/") view=pages::flows::FlowListPage/>
                        <ParentRoute
                            path=path!("/if/admin/flows/:slug")
                            view=pages::flow_editor::FlowEditorPage
                        >
                            <Route path=path!("") view=pages::flow_editor::BindingsTab/>
                            <Route path=path!("/diagram/") view=pages::flow_diagram::DiagramTab/>
                            <Route path=path!("/simulate/") view=pages::flow_simulate::SimulateTab/>
                            <Route path=path!("/versions/") view=pages::flow_versions::VersionsTab/>
                            <Route path=path!("/lint/") view=pages::flow_lint::LintTab/>
                        </ParentRoute>
                        <Route path=path!("/if/admin/stages/") view=pages::stages::StagesPage/>
                        <Route path=path!("/if/admin/stages/:pk/") view=pages::stages::StagePage/>
                        <Route path=path!("/if/admin/prompts/") view=pages::prompts::PromptsPage/>
                        <Route path=path!("/if/admin/prompts/:pk/") view=pages::prompts::PromptPage/>
                        <Route path=path!("/if/admin/policies/") view=pages::policies::PoliciesPage/>
                        <Route path=path!("/if/admin/policies/:pk/") view=pages::policies::PolicyPage/>
                        <Route path=path!("/if/admin/users/") view=pages::users::UsersPage/>
                        <Route path=path!("/if/admin/users/:pk/") view=pages::users::UserPage/>
                        <Route path=path!("/if/admin/groups/") view=pages::groups::GroupsPage/>
                        <Route path=path!("/if/admin/groups/:pk/") view=pages::groups::GroupPage/>
                        <Route
                            path=path!("/if/admin/invitations/")
                            view=pages::invitations::InvitationsPage
                        />
                        <Route path=path!("/if/admin/events/") view=pages::events::EventsPage/>
                        <Route
                            path=path!("/if/admin/blueprints/")
                            view=pages::blueprints::BlueprintsPage
                        />
                    </Routes>
                </main>
            </div>
        </Router>
    }
}

/// The navigation: one link per page, and who is signed in.
#[component]
fn AdminHeader() -> impl IntoView {
    let me = Resource::new(|| (), |_| api::whoami());
    const LINKS: &[(&str, &str)] = &[
        ("/if/admin/flows/", "Flows"),
        ("/if/admin/stages/", "Stages"),
        ("/if/admin/prompts/", "Prompt fields"),
        ("/if/admin/policies/", "Policies"),
        ("/if/admin/users/", "Users"),
        ("/if/admin/groups/", "Groups"),
        ("/if/admin/invitations/", "Invitations"),
        ("/if/admin/events/", "Events"),
        ("/if/admin/blueprints/", "Blueprints"),
    ];
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="admin-header">
            <A href="/if/admin/" attr:class="admin-brand">"keyflow admin"</A>
            <nav aria-label="Admin sections">
                <ul class="admin-nav">
                    {LINKS
                        .iter()
                        .map(|(href, label)| {
                            view! {
                                <li>
                                    <A href=*href>{*label}</A>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
            <div class="admin-user">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match me.await {
                            Ok(user) => {
                                view! {
                                    <span data-testid="admin-user">{user.username}</span>
                                    <a href="/" rel="external">"Leave admin"</a>
                                }
                                    .into_any()
                            }
                            Err(e) => view! { <span class="muted">{e.to_string()}</span> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </header>
    }
}
