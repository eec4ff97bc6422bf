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

// --- the admin interface ------------------------------------------------------------------------

use crate::admin::api::{AdminFnError, AdminUser};
use serde_json::Value;

/// The caller of an admin server function: the request it came with (the session cookie, the
/// CSRF header or an API token; the peer address in its extensions), so the server can
/// authenticate them and name them in the audit log.
#[derive(Clone, Debug)]
pub struct AdminRequest {
    pub parts: http::request::Parts,
}

impl AdminRequest {
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        Self {
            parts: parts.clone(),
        }
    }
}

/// The admin service layer, as the admin UI's server functions reach it. Every method
/// authenticates `request` first: a superuser, and for anything but a GET (a server render),
/// the session's CSRF token. Collections are authentik's API paths under `/api/v3/`
/// (`flows/instances`, `flows/bindings`, …); objects are authentik's JSON models.
#[async_trait::async_trait]
pub trait AdminBackend: Send + Sync {
    async fn whoami(&self, request: &AdminRequest) -> Result<AdminUser, AdminFnError>;

    async fn list(
        &self,
        request: &AdminRequest,
        collection: &str,
        query: Vec<(String, String)>,
    ) -> Result<Vec<Value>, AdminFnError>;

    async fn retrieve(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: &str,
    ) -> Result<Value, AdminFnError>;

    async fn create(
        &self,
        request: &AdminRequest,
        collection: &str,
        body: Value,
    ) -> Result<Value, AdminFnError>;

    /// A partial update (PATCH).
    async fn update(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: &str,
        body: Value,
    ) -> Result<Value, AdminFnError>;

    async fn delete(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: &str,
        query: Vec<(String, String)>,
    ) -> Result<(), AdminFnError>;

    async fn action(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: Option<&str>,
        action: &str,
        body: Value,
    ) -> Result<Value, AdminFnError>;

    /// Previews (`dry_run`) or applies the blueprint `content` (YAML), as
    /// `POST /api/v3/managed/blueprints/apply/` does: `{"report": ApplyReport}`, or
    /// `{"error": BlueprintError}` (entry, model, field, message) when it cannot be applied.
    async fn apply_blueprint(
        &self,
        request: &AdminRequest,
        content: String,
        dry_run: bool,
    ) -> Result<Value, AdminFnError>;
}

/// Context wrapper so the admin backend can be fetched with `use_context`.
#[derive(Clone)]
pub struct SharedAdminBackend(pub Arc<dyn AdminBackend>);
