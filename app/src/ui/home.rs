//! The start page, `/`: who is signed in, with a way to log in or out.
//!
//! The server answers "who is this?" while rendering ([`crate::ssr::FlowBackend::visitor`]), so
//! the page is complete without JavaScript; the answer is serialized into the page for
//! hydration. Only when the server cannot tell (and a session cookie exists) does the browser
//! ask `GET /api/v3/core/users/me/` (403 means anonymous).

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use super::links::{LOGIN_URL, LOGOUT_URL};

/// The part of authentik's `UserSelf` this page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub username: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub is_superuser: bool,
}

// Only the browser asks the API; the server build never builds it.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Deserialize)]
struct Me {
    user: CurrentUser,
}

#[cfg_attr(not(any(feature = "ssr", feature = "hydrate")), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum SessionView {
    Checking,
    Anonymous,
    SignedIn(CurrentUser),
    Failed(String),
}

#[component]
pub fn HomePage() -> impl IntoView {
    let known = who_is_visiting();
    view! {
        <Title text="keyflow"/>
        <main class="flow-page">
            <div class="flow-card" data-testid="home">
                <h1 class="flow-title">"keyflow"</h1>
                <Suspense fallback=checking>
                    {move || Suspend::new(async move {
                        view! { <SessionPanel initial=known.await/> }
                    })}
                </Suspense>
            </div>
            <footer class="flow-footer">"Powered by keyflow"</footer>
        </main>
    }
}

#[cfg(feature = "ssr")]
fn who_is_visiting() -> Resource<SessionView> {
    use crate::ssr::{SharedFlowBackend, Visitor};
    let backend = use_context::<SharedFlowBackend>();
    let has_session = super::cookies::csrf_token().is_some();
    Resource::new(
        || (),
        move |_| {
            let backend = backend.clone();
            async move {
                let visitor = match backend {
                    Some(backend) => backend.0.visitor().await,
                    None => Visitor::Unknown,
                };
                match visitor {
                    Visitor::SignedIn(user) => SessionView::SignedIn(CurrentUser {
                        username: user.username,
                        name: user.name,
                        email: user.email,
                        is_superuser: user.is_superuser,
                    }),
                    Visitor::Anonymous => SessionView::Anonymous,
                    // Without a session cookie nobody can be signed in.
                    Visitor::Unknown if has_session => SessionView::Checking,
                    Visitor::Unknown => SessionView::Anonymous,
                }
            }
        },
    )
}

/// The first value always comes from the server-rendered page; this only runs on a client-side
/// navigation to `/`, where the panel then asks the API.
#[cfg(not(feature = "ssr"))]
fn who_is_visiting() -> Resource<SessionView> {
    Resource::new(|| (), |_| async { SessionView::Checking })
}

#[component]
fn SessionPanel(initial: SessionView) -> impl IntoView {
    let state = RwSignal::new(initial);
    #[cfg(feature = "hydrate")]
    if state.get_untracked() == SessionView::Checking {
        leptos::task::spawn_local(async move {
            let answer = super::browser::get_json_if_allowed::<Me>("/api/v3/core/users/me/").await;
            state.set(match answer {
                Ok(Some(me)) => SessionView::SignedIn(me.user),
                Ok(None) => SessionView::Anonymous,
                Err(message) => SessionView::Failed(message),
            });
        });
    }
    move || match state.get() {
        SessionView::Checking => checking().into_any(),
        SessionView::Anonymous => anonymous(None).into_any(),
        SessionView::SignedIn(user) => signed_in(user).into_any(),
        SessionView::Failed(message) => anonymous(Some(message)).into_any(),
    }
}

fn checking() -> impl IntoView {
    view! {
        <div class="stage" aria-busy="true">
            <p class="muted">"Checking your session…"</p>
            <noscript>
                <a class="button primary" href=LOGIN_URL data-testid="login-link">
                    "Log in"
                </a>
            </noscript>
        </div>
    }
}

fn anonymous(problem: Option<String>) -> impl IntoView {
    view! {
        <div class="stage">
            {problem.map(|message| view! { <div class="alert" role="alert">{message}</div> })}
            <p class="stage-message">"You are not signed in."</p>
            <a class="button primary" href=LOGIN_URL rel="external" data-testid="login-link">
                "Log in"
            </a>
        </div>
    }
}

fn signed_in(user: CurrentUser) -> impl IntoView {
    let details = [user.name.clone(), user.email.clone()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    view! {
        <div class="stage">
            <p class="stage-message" data-testid="current-user">
                "Signed in as " <strong>{user.username}</strong>
            </p>
            {(!details.is_empty()).then(|| view! { <p class="muted">{details}</p> })}
            {user.is_superuser.then(|| view! { <p class="badge">"Administrator"</p> })}
            <a class="button" href="/if/user/" rel="external" data-testid="authenticators-link">
                "Your authenticators"
            </a>
            <a class="button" href=LOGOUT_URL rel="external" data-testid="logout-link">
                "Log out"
            </a>
        </div>
    }
}
