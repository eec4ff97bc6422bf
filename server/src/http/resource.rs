//! One admin object collection (authentik's `/api/v3/<collection>/` ViewSets), answered through
//! the admin service layer and served over two transports that share it: authentik's REST
//! paths ([`routes`]) and the admin UI's Leptos server functions (`super::admin_ui`). Both
//! authenticate the caller first and hand the [`Resource`] an [`Actor`]; a resource only
//! speaks JSON in authentik's shapes, so a script and the editor see the same objects, rules
//! and errors.
//!
//! REST paths, per resource: `GET|POST /api/v3/<collection>/` (list with DRF page numbers,
//! create → 201) and `GET|PATCH|PUT|DELETE /api/v3/<collection>/<id>/` (→ 204 on delete);
//! plus each [`ActionSpec`] at `/api/v3/<collection>/<id>/<action>/` (or without `<id>/` for a
//! list action).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, Method},
    response::{IntoResponse, Response},
    routing::{on, MethodFilter},
    Router,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::admin_api::{actor, created, error_response, no_content, ok, page_of};
use super::{executor::parse_body, AppState};
use crate::admin::{error::NON_FIELD_ERRORS, Actor, AdminError, FieldErrors};

/// List filters as the query string gives them (`search`, `ordering`, per-collection keys).
pub type ListQuery = HashMap<String, String>;

/// A JSON object body.
pub type Body = Map<String, Value>;

/// Who acts, and with what: every resource call gets one.
pub struct Cx<'a> {
    pub state: &'a AppState,
    pub actor: &'a Actor,
}

/// How an action is called: on one object (`/<id>/<name>/`) or on the collection (`/<name>/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionScope {
    Object,
    Collection,
}

/// A named operation beyond create/read/update/delete (authentik's `@action`s, keyflow's flow
/// tools). `safe` actions are GET (read-only, query string as the body); the others POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionSpec {
    pub name: &'static str,
    pub scope: ActionScope,
    pub safe: bool,
}

/// What an action answers: JSON, or a file download.
pub enum ActionAnswer {
    Json(Value),
    /// 204 No Content.
    Empty,
    File {
        content_type: &'static str,
        filename: String,
        body: String,
    },
}

/// One admin collection over the service layer. Ids are the path segment authentik uses (a
/// flow's slug, a stage's uuid, a user's integer pk) as text; an id that cannot be one is
/// simply [`AdminError::NotFound`].
#[async_trait::async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The path under `/api/v3/`, without slashes at the ends: `flows/instances`.
    fn collection(&self) -> String;

    /// Every object matching `query`, in the collection's order (paging is the transport's).
    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError>;

    /// Whether the REST list is DRF-paged (`{pagination, results}`); authentik answers a few
    /// lists (`authenticators/admin/all`) as a plain array.
    fn paged(&self) -> bool {
        true
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError>;

    /// Collections whose objects are made elsewhere (`stages/all`) keep the default: 405.
    async fn create(&self, _cx: &Cx<'_>, _body: Body) -> Result<Value, AdminError> {
        Err(AdminError::MethodNotAllowed("POST"))
    }

    /// `partial`: PATCH (only the given fields change) rather than PUT.
    async fn update(
        &self,
        _cx: &Cx<'_>,
        _id: &str,
        _body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        Err(AdminError::MethodNotAllowed(if partial {
            "PATCH"
        } else {
            "PUT"
        }))
    }

    /// `query` carries options such as a stage's `?force=true`.
    async fn destroy(&self, cx: &Cx<'_>, id: &str, query: &ListQuery) -> Result<(), AdminError>;

    /// The actions this collection offers.
    fn actions(&self) -> &'static [ActionSpec] {
        &[]
    }

    /// Runs action `name` (one of [`Resource::actions`]) on `id` (`None` for a collection
    /// action) with `body` (the query string, as strings, for a safe action).
    async fn action(
        &self,
        _cx: &Cx<'_>,
        _name: &str,
        _id: Option<&str>,
        _body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        Err(AdminError::NotFound)
    }
}

/// Every collection the admin API and UI serve.
#[derive(Clone, Default)]
pub struct Registry {
    resources: Vec<Arc<dyn Resource>>,
}

impl Registry {
    pub fn with(mut self, resource: impl Resource) -> Self {
        self.resources.push(Arc::new(resource));
        self
    }

    /// Adds every resource of `resources`.
    pub fn with_all(mut self, resources: Vec<Box<dyn Resource>>) -> Self {
        self.resources.extend(resources.into_iter().map(Arc::from));
        self
    }

    /// The resource answering `collection` (`flows/instances`).
    pub fn get(&self, collection: &str) -> Option<Arc<dyn Resource>> {
        let wanted = collection.trim_matches('/');
        self.resources
            .iter()
            .find(|r| r.collection() == wanted)
            .cloned()
    }

    /// The REST routes of every resource.
    pub fn routes(&self) -> Router<AppState> {
        self.resources
            .iter()
            .fold(Router::new(), |router, resource| {
                router.merge(routes(resource.clone()))
            })
    }
}

/// The body as an object (DRF's "Expected a dictionary" otherwise).
pub fn object_of(body: Value) -> Result<Body, AdminError> {
    match body {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(AdminError::field(
            NON_FIELD_ERRORS,
            format!(
                "Invalid data. Expected a dictionary, but got {}.",
                type_name(&other)
            ),
        )),
    }
}

/// What DRF calls a JSON type.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Object(_) => "dict",
        Value::Null => "NoneType",
    }
}

/// Deserialises the body's `keys` into a typed input; a bad value fails on its field with a
/// DRF-like message. Other keys (read-only fields a client echoes back) are ignored, as DRF does.
pub fn typed_input<T: DeserializeOwned>(body: &Body, keys: &[&str]) -> Result<T, AdminError> {
    let mut known = Map::new();
    for key in keys {
        if let Some(value) = body.get(*key) {
            known.insert((*key).to_owned(), value.clone());
        }
    }
    let given = known.clone();
    serde_path_to_error::deserialize::<_, T>(Value::Object(known)).map_err(|e| {
        let path = e.path().to_string();
        let field = path.split(['.', '[']).next().unwrap_or_default().to_owned();
        let message = e.into_inner().to_string();
        if let Some(missing) = crate::admin::error::missing_field(&message) {
            return AdminError::field(missing, "This field is required.");
        }
        let message = if message.starts_with("unknown variant") {
            format!(
                "\"{}\" is not a valid choice.",
                given
                    .get(&field)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                    .unwrap_or_default()
            )
        } else if message.contains("expected a boolean") {
            "Must be a valid boolean.".to_owned()
        } else if message.contains("UUID") || message.contains("uuid") {
            format!("Must be a valid UUID ({message}).")
        } else if message.contains("expected i32") || message.contains("expected u32") {
            "A valid integer is required.".to_owned()
        } else {
            message
        };
        let field = if field.is_empty() || field == "." {
            NON_FIELD_ERRORS.to_owned()
        } else {
            field
        };
        AdminError::Invalid(FieldErrors::single(&field, message))
    })
}

/// Each row as JSON, in order (the lists' shared loop).
pub async fn json_rows<'r, R, F, Fut>(rows: &'r [R], to_json: F) -> Result<Vec<Value>, AdminError>
where
    F: Fn(&'r R) -> Fut,
    Fut: std::future::Future<Output = Result<Value, AdminError>>,
{
    let mut results = Vec::with_capacity(rows.len());
    for row in rows {
        results.push(to_json(row).await?);
    }
    Ok(results)
}

/// A uuid id; a malformed one is simply not found.
pub fn uuid_id(id: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(id.trim()).map_err(|_| AdminError::NotFound)
}

/// A uuid query filter; a malformed one is DRF's filter error.
pub fn uuid_filter(query: &ListQuery, key: &str) -> Result<Option<Uuid>, AdminError> {
    match query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => Uuid::parse_str(text)
            .map(Some)
            .map_err(|_| AdminError::field(key, "Enter a valid UUID.")),
    }
}

/// A non-blank query value, trimmed.
pub fn filter_text(query: &ListQuery, key: &str) -> Option<String> {
    query
        .get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `true`/`false` query flags (`?force=true`).
pub fn query_flag(query: &ListQuery, key: &str) -> bool {
    query
        .get(key)
        .is_some_and(|v| matches!(v.as_str(), "true" | "True" | "1"))
}

// --- REST transport --------------------------------------------------------------------------

/// The superuser calling, or the refusal to answer with.
async fn authenticated(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    peer: SocketAddr,
) -> Result<Actor, Response> {
    actor(state, headers, method, peer)
        .await
        .map_err(IntoResponse::into_response)
}

/// Flattens a handler's two outcomes into the answer.
fn settle(result: Result<Response, AdminError>) -> Response {
    result.unwrap_or_else(error_response)
}

/// The request body as an object, or the (boxed: it is large) answer refusing it.
fn body_of(headers: &HeaderMap, bytes: &Bytes) -> Result<Body, Box<Response>> {
    match parse_body(headers, bytes) {
        Ok(value) => object_of(value).map_err(|e| Box::new(error_response(e))),
        Err(error) => Err(Box::new(error.into_response())),
    }
}

fn file_response(answer: ActionAnswer) -> Response {
    use axum::http::{header, StatusCode};
    match answer {
        ActionAnswer::Json(value) => ok(value),
        ActionAnswer::Empty => no_content(),
        ActionAnswer::File {
            content_type,
            filename,
            body,
        } => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{filename}\""),
                ),
            ],
            body,
        )
            .into_response(),
    }
}

/// The REST routes of one resource.
pub fn routes(resource: Arc<dyn Resource>) -> Router<AppState> {
    let base = format!("/api/v3/{}/", resource.collection());
    let list = {
        let r = resource.clone();
        move |State(state): State<AppState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              headers: HeaderMap,
              Query(query): Query<ListQuery>| async move {
            let actor = match authenticated(&state, &headers, &Method::GET, peer).await {
                Ok(actor) => actor,
                Err(refused) => return refused,
            };
            let cx = Cx {
                state: &state,
                actor: &actor,
            };
            let paged = r.paged();
            settle(r.list(&cx, &query).await.map(|rows| {
                if !paged {
                    return ok(Value::Array(rows));
                }
                match page_of(&query, rows) {
                    Ok((request, count, rows)) => request.respond(count, rows),
                    Err(refused) => *refused,
                }
            }))
        }
    };
    let create = {
        let r = resource.clone();
        move |State(state): State<AppState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              headers: HeaderMap,
              bytes: Bytes| async move {
            let actor = match authenticated(&state, &headers, &Method::POST, peer).await {
                Ok(actor) => actor,
                Err(refused) => return refused,
            };
            let body = match body_of(&headers, &bytes) {
                Ok(body) => body,
                Err(refused) => return *refused,
            };
            let cx = Cx {
                state: &state,
                actor: &actor,
            };
            settle(r.create(&cx, body).await.map(created))
        }
    };
    let retrieve = {
        let r = resource.clone();
        move |State(state): State<AppState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              Path(id): Path<String>,
              headers: HeaderMap| async move {
            let actor = match authenticated(&state, &headers, &Method::GET, peer).await {
                Ok(actor) => actor,
                Err(refused) => return refused,
            };
            let cx = Cx {
                state: &state,
                actor: &actor,
            };
            settle(r.retrieve(&cx, &id).await.map(ok))
        }
    };
    let update = {
        let r = resource.clone();
        move |State(state): State<AppState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              Path(id): Path<String>,
              method: Method,
              headers: HeaderMap,
              bytes: Bytes| async move {
            let actor = match authenticated(&state, &headers, &method, peer).await {
                Ok(actor) => actor,
                Err(refused) => return refused,
            };
            let body = match body_of(&headers, &bytes) {
                Ok(body) => body,
                Err(refused) => return *refused,
            };
            let partial = method == Method::PATCH;
            let cx = Cx {
                state: &state,
                actor: &actor,
            };
            settle(r.update(&cx, &id, body, partial).await.map(ok))
        }
    };
    let destroy = {
        let r = resource.clone();
        move |State(state): State<AppState>,
              ConnectInfo(peer): ConnectInfo<SocketAddr>,
              Path(id): Path<String>,
              headers: HeaderMap,
              Query(query): Query<ListQuery>| async move {
            let actor = match authenticated(&state, &headers, &Method::DELETE, peer).await {
                Ok(actor) => actor,
                Err(refused) => return refused,
            };
            let cx = Cx {
                state: &state,
                actor: &actor,
            };
            settle(r.destroy(&cx, &id, &query).await.map(|()| no_content()))
        }
    };
    let mut router = Router::new()
        .route(&base, axum::routing::get(list).post(create))
        .route(
            &format!("{base}{{id}}/"),
            axum::routing::get(retrieve)
                .patch(update.clone())
                .put(update)
                .delete(destroy),
        );
    for spec in resource.actions() {
        router = router.merge(action_route(resource.clone(), &base, *spec));
    }
    router
}

fn action_route(resource: Arc<dyn Resource>, base: &str, spec: ActionSpec) -> Router<AppState> {
    let filter = if spec.safe {
        MethodFilter::GET
    } else {
        MethodFilter::POST
    };
    let handler = move |State(state): State<AppState>,
                        ConnectInfo(peer): ConnectInfo<SocketAddr>,
                        id: Option<Path<String>>,
                        method: Method,
                        headers: HeaderMap,
                        Query(query): Query<ListQuery>,
                        bytes: Bytes| async move {
        let actor = match authenticated(&state, &headers, &method, peer).await {
            Ok(actor) => actor,
            Err(refused) => return refused,
        };
        let body = if spec.safe {
            query
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        } else {
            match body_of(&headers, &bytes) {
                // authentik's clients send some action options in the query string
                // (`recovery_email/?email_stage=…`): the body wins where both name one.
                Ok(mut body) => {
                    for (key, value) in query {
                        body.entry(key).or_insert(Value::String(value));
                    }
                    body
                }
                Err(refused) => return *refused,
            }
        };
        let cx = Cx {
            state: &state,
            actor: &actor,
        };
        let id = id.as_ref().map(|Path(id)| id.as_str());
        settle(
            resource
                .action(&cx, spec.name, id, body)
                .await
                .map(file_response),
        )
    };
    let path = match spec.scope {
        ActionScope::Object => format!("{base}{{id}}/{}/", spec.name),
        ActionScope::Collection => format!("{base}{}/", spec.name),
    };
    Router::new().route(&path, on(filter, handler))
}
