//! The browser UI: the HTML shell, the router, the flow executor page (one component per stage
//! challenge, under [`stages`]) and the home page. Every page is rendered on the server first, so
//! it works before — or without — the WASM; hydration then takes over the forms.

#[cfg(feature = "hydrate")]
mod browser;
mod captcha;
mod cookies;
mod flow;
mod form;
mod home;
mod links;
mod pending_user;
pub mod stages;
mod user_settings;
#[cfg(feature = "hydrate")]
mod webauthn;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

pub use cookies::csrf_token;
pub use flow::{FlowPage, FlowState};
pub use form::{FormFields, StageCx};
pub use home::HomePage;
pub use user_settings::UserSettingsPage;

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <AutoReload options=options.clone()/>
                // With `hash-files`, both name the build's hashed files (read from hash.txt).
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Link rel="icon" href="/favicon.ico"/>
        <Title text="keyflow"/>
        <Router>
            <Routes fallback=NotFound>
                // Async: the whole page (and any cookie the first challenge sets) is ready
                // before the first byte, so everything works without JavaScript.
                <Route path=path!("/") view=HomePage ssr=SsrMode::Async/>
                <Route path=path!("/if/flow/:slug/") view=FlowPage ssr=SsrMode::Async/>
                <Route path=path!("/if/user/") view=UserSettingsPage/>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    view! {
        <main class="flow-page">
            <div class="flow-card">
                <h1 class="flow-title">"Page not found"</h1>
                <p>
                    <a href="/" rel="external">
                        "Go to the start page"
                    </a>
                </p>
            </div>
        </main>
    }
}
