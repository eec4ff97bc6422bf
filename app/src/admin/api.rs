//! The admin UI's server functions. Each runs on the server against the admin service layer
//! (through [`crate::ssr::AdminBackend`], which the server implements); the browser calls them
//! as `POST /api/admin/<name>` with the session's CSRF token in `X-CSRF-Token` ([`AdminClient`]).
//! During a server render they run in-process with the page request's credentials.
//!
//! The objects are authentik's API models as JSON (the same the REST paths answer), read into
//! the typed views of [`super::model`] by [`list`], [`get`], [`create`] and [`update`].

use std::collections::BTreeMap;
use std::fmt;

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the admin server functions are mounted.
pub const SERVER_FN_PREFIX: &str = "/api/admin";

/// Why an admin call failed, as the UI shows it. `Invalid` carries DRF's per-field messages
/// (`non_field_errors` for the input as a whole), so forms show each under its field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdminFnError {
    /// Not signed in (or the session ended).
    Unauthenticated,
    /// Signed in, but not a superuser; or the CSRF token is missing or wrong.
    Forbidden(String),
    NotFound,
    Invalid(BTreeMap<String, Vec<String>>),
    /// Anything else (network, server), as a sentence.
    Failed(String),
}

impl AdminFnError {
    /// The messages for `field` (empty when it has none).
    pub fn field(&self, field: &str) -> Vec<String> {
        match self {
            AdminFnError::Invalid(errors) => errors.get(field).cloned().unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// One message for a whole form: everything not tied to one of `fields`.
    pub fn general(&self, fields: &[&str]) -> Option<String> {
        match self {
            AdminFnError::Invalid(errors) => {
                let rest: Vec<String> = errors
                    .iter()
                    .filter(|(field, _)| !fields.contains(&field.as_str()))
                    .flat_map(|(field, messages)| {
                        messages.iter().map(move |m| {
                            if field == "non_field_errors" {
                                m.clone()
                            } else {
                                format!("{field}: {m}")
                            }
                        })
                    })
                    .collect();
                (!rest.is_empty()).then(|| rest.join(" "))
            }
            other => Some(other.to_string()),
        }
    }
}

impl fmt::Display for AdminFnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminFnError::Unauthenticated => f.write_str("Your session has ended: log in again."),
            AdminFnError::Forbidden(detail) => f.write_str(detail),
            AdminFnError::NotFound => f.write_str("Not found: it may have been deleted."),
            AdminFnError::Invalid(errors) => {
                let all: Vec<String> = errors
                    .iter()
                    .flat_map(|(field, messages)| {
                        messages.iter().map(move |m| format!("{field}: {m}"))
                    })
                    .collect();
                f.write_str(&all.join(" "))
            }
            AdminFnError::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for AdminFnError {}

impl FromServerFnError for AdminFnError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AdminFnError::Failed(match value {
            ServerFnErrorErr::Request(e) => format!("The server could not be reached ({e})."),
            other => other.to_string(),
        })
    }
}

/// The fetch client of every admin server function: the browser's, plus the CSRF header
/// (read at send time, since logging in rotates the token).
pub struct AdminClient;

mod client {
    use bytes::Bytes;
    use futures::{Sink, Stream};
    use leptos::server_fn::client::{browser::BrowserClient, Client};
    use leptos::server_fn::error::FromServerFnError;
    use leptos::server_fn::request::browser::BrowserRequest;
    use leptos::server_fn::response::browser::BrowserResponse;

    impl<E, IS, OS> Client<E, IS, OS> for super::AdminClient
    where
        E: FromServerFnError,
        IS: FromServerFnError,
        OS: FromServerFnError,
    {
        type Request = BrowserRequest;
        type Response = BrowserResponse;

        fn send(
            req: Self::Request,
        ) -> impl std::future::Future<Output = Result<Self::Response, E>> + Send {
            if let Some(token) = crate::ui::csrf_token() {
                req.headers().set("X-CSRF-Token", &token);
            }
            <BrowserClient as Client<E, IS, OS>>::send(req)
        }

        fn open_websocket(
            path: &str,
        ) -> impl std::future::Future<
            Output = Result<
                (
                    impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                    impl Sink<Bytes> + Send + 'static,
                ),
                E,
            >,
        > + Send {
            <BrowserClient as Client<E, IS, OS>>::open_websocket(path)
        }

        fn spawn(future: impl std::future::Future<Output = ()> + Send + 'static) {
            <BrowserClient as Client<E, IS, OS>>::spawn(future)
        }
    }
}

// --- the server functions -------------------------------------------------------------------
//
// Each answers `Ok(outcome)` with a 200 for anything the service layer decided (the object, or
// why not: invalid input, not found), so a refused form is not a failed request; only access
// refusals are HTTP errors (401 not signed in, 403 not a superuser or no CSRF token).

/// What a server function answers once the caller is let in.
pub type Outcome<T> = Result<T, AdminFnError>;

/// The backend and the caller's request, inside a server function.
#[cfg(feature = "ssr")]
fn backend() -> Result<(crate::ssr::SharedAdminBackend, crate::ssr::AdminRequest), AdminFnError> {
    let backend = use_context::<crate::ssr::SharedAdminBackend>()
        .ok_or_else(|| AdminFnError::Failed("The admin backend is not configured.".into()))?;
    let parts = use_context::<http::request::Parts>()
        .ok_or_else(|| AdminFnError::Failed("No request to answer.".into()))?;
    Ok((backend, crate::ssr::AdminRequest::from_parts(&parts)))
}

/// Splits an answer: access refusals become the request's failure (with 401/403), everything
/// else is the outcome.
#[cfg(feature = "ssr")]
fn settle<T>(answer: Result<T, AdminFnError>) -> Result<Outcome<T>, AdminFnError> {
    let status = match &answer {
        Err(AdminFnError::Unauthenticated) => http::StatusCode::UNAUTHORIZED,
        Err(AdminFnError::Forbidden(_)) => http::StatusCode::FORBIDDEN,
        _ => return Ok(answer),
    };
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(status);
    }
    answer.map(Ok)
}

/// Who is using the admin interface (a superuser, or an error saying why not).
#[server(prefix = "/api/admin", endpoint = "whoami", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn whoami() -> Result<AdminUser, AdminFnError> {
    let (backend, request) = backend()?;
    backend.0.whoami(&request).await
}

/// The signed-in administrator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminUser {
    pub pk: i32,
    pub username: String,
    pub name: String,
}

/// Every object of `collection` (authentik's path under `/api/v3/`, e.g. `flows/instances`)
/// matching `query` (the REST list filters: `search`, `ordering`, …).
#[server(prefix = "/api/admin", endpoint = "list", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn list_objects(
    collection: String,
    query: Vec<(String, String)>,
) -> Result<Outcome<Vec<Value>>, AdminFnError> {
    let (backend, request) = backend()?;
    settle(backend.0.list(&request, &collection, query).await)
}

#[server(prefix = "/api/admin", endpoint = "retrieve", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn retrieve_object(
    collection: String,
    id: String,
) -> Result<Outcome<Value>, AdminFnError> {
    let (backend, request) = backend()?;
    settle(backend.0.retrieve(&request, &collection, &id).await)
}

#[server(prefix = "/api/admin", endpoint = "create", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn create_object(
    collection: String,
    body: Value,
) -> Result<Outcome<Value>, AdminFnError> {
    let (backend, request) = backend()?;
    settle(backend.0.create(&request, &collection, body).await)
}

/// A partial update (PATCH): only the fields in `body` change.
#[server(prefix = "/api/admin", endpoint = "update", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn update_object(
    collection: String,
    id: String,
    body: Value,
) -> Result<Outcome<Value>, AdminFnError> {
    let (backend, request) = backend()?;
    settle(backend.0.update(&request, &collection, &id, body).await)
}

/// Deletes `id`; `query` carries options such as a stage's `force`.
#[server(prefix = "/api/admin", endpoint = "delete", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn delete_object(
    collection: String,
    id: String,
    query: Vec<(String, String)>,
) -> Result<Outcome<()>, AdminFnError> {
    let (backend, request) = backend()?;
    settle(backend.0.delete(&request, &collection, &id, query).await)
}

/// Runs a collection's action (`reorder_bindings`, `export`, …) on `id`, or on the collection
/// when `id` is `None`. File answers come back as `{"filename", "content_type", "body"}`.
#[server(prefix = "/api/admin", endpoint = "action", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn object_action(
    collection: String,
    id: Option<String>,
    action: String,
    body: Value,
) -> Result<Outcome<Value>, AdminFnError> {
    let (backend, request) = backend()?;
    settle(
        backend
            .0
            .action(&request, &collection, id.as_deref(), &action, body)
            .await,
    )
}

/// Previews (`dry_run`) or applies a blueprint (its YAML text), as
/// `POST /api/v3/managed/blueprints/apply/` does; read it with [`blueprint`].
#[server(prefix = "/api/admin", endpoint = "blueprint", input = leptos::server_fn::codec::Json, client = AdminClient)]
pub async fn apply_blueprint(
    content: String,
    dry_run: bool,
) -> Result<Outcome<Value>, AdminFnError> {
    let (backend, request) = backend()?;
    settle(backend.0.apply_blueprint(&request, content, dry_run).await)
}

/// [`apply_blueprint`], read: the entry-by-entry report, or why the blueprint cannot be applied
/// (nothing was changed then).
pub async fn blueprint(
    content: String,
    dry_run: bool,
) -> Result<super::model::BlueprintAnswer, AdminFnError> {
    let answer: super::model::BlueprintWire = read(apply_blueprint(content, dry_run).await??)?;
    match (answer.report, answer.error) {
        (_, Some(error)) => Ok(super::model::BlueprintAnswer::Invalid(error)),
        (Some(report), None) => Ok(super::model::BlueprintAnswer::Report(report)),
        (None, None) => Err(AdminFnError::Failed("The server sent no report.".into())),
    }
}

// --- typed helpers ----------------------------------------------------------------------------

fn read<T: DeserializeOwned>(value: Value) -> Result<T, AdminFnError> {
    serde_json::from_value(value)
        .map_err(|e| AdminFnError::Failed(format!("The server's answer was not understood: {e}")))
}

/// [`list_objects`], read as `T`.
pub async fn list<T: DeserializeOwned>(
    collection: &str,
    query: &[(&str, &str)],
) -> Result<Vec<T>, AdminFnError> {
    let query = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    list_objects(collection.to_owned(), query)
        .await??
        .into_iter()
        .map(read)
        .collect()
}

/// [`retrieve_object`], read as `T`.
pub async fn get<T: DeserializeOwned>(collection: &str, id: &str) -> Result<T, AdminFnError> {
    read(retrieve_object(collection.to_owned(), id.to_owned()).await??)
}

/// [`create_object`], read as `T`.
pub async fn create<T: DeserializeOwned>(collection: &str, body: Value) -> Result<T, AdminFnError> {
    read(create_object(collection.to_owned(), body).await??)
}

/// [`update_object`], read as `T`.
pub async fn update<T: DeserializeOwned>(
    collection: &str,
    id: &str,
    body: Value,
) -> Result<T, AdminFnError> {
    read(update_object(collection.to_owned(), id.to_owned(), body).await??)
}

/// [`delete_object`].
pub async fn delete(collection: &str, id: &str) -> Result<(), AdminFnError> {
    delete_object(collection.to_owned(), id.to_owned(), Vec::new()).await?
}

/// [`object_action`], read as `T`.
pub async fn action<T: DeserializeOwned>(
    collection: &str,
    id: Option<&str>,
    name: &str,
    body: Value,
) -> Result<T, AdminFnError> {
    read(
        object_action(
            collection.to_owned(),
            id.map(str::to_owned),
            name.to_owned(),
            body,
        )
        .await??,
    )
}
