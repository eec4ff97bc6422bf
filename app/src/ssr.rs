//! The seam between the UI and the server for server-side rendering. The server implements
//! [`FlowBackend`] and provides it as Leptos context; the UI never sees engine types.

use std::sync::Arc;

use crate::protocol::{Challenge, FlowAnswer, UiMessage};

/// Runs the flow executor in-process during a server-side render.
#[async_trait::async_trait]
pub trait FlowBackend: Send + Sync {
    /// The current challenge of flow `slug` for the request being rendered (its cookies are in
    /// the Leptos context as `http::request::Parts`; cookies to set go to `ResponseOptions`).
    async fn current_challenge(&self, slug: &str, query: &str) -> Challenge;

    /// [`FlowBackend::current_challenge`] with the UI messages that came with it (what the page
    /// renders). The default has no messages.
    async fn current_answer(&self, slug: &str, query: &str) -> FlowAnswer {
        FlowAnswer::without_messages(self.current_challenge(slug, query).await)
    }

    /// Who the request being rendered belongs to, for the start page. The default, `Unknown`,
    /// makes the page ask `/api/v3/core/users/me/` from the browser instead (so it needs
    /// JavaScript to show the user).
    async fn visitor(&self) -> Visitor {
        Visitor::Unknown
    }
}

/// What the server knows about the person viewing a page.
#[derive(Clone, Debug, PartialEq)]
pub enum Visitor {
    Unknown,
    Anonymous,
    SignedIn(SessionUser),
}

/// The signed-in user, as the start page shows them.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub is_superuser: bool,
}

/// Context wrapper so the backend can be fetched with `use_context`.
#[derive(Clone)]
pub struct SharedFlowBackend(pub Arc<dyn FlowBackend>);

/// A challenge already computed for this render (the answer to a no-JavaScript form POST).
#[derive(Clone)]
pub struct PrecomputedChallenge(pub Challenge);

/// The UI messages that came with [`PrecomputedChallenge`].
#[derive(Clone, Default)]
pub struct PrecomputedMessages(pub Vec<UiMessage>);
