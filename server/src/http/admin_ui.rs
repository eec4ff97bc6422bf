//! The admin interface's side of the server: the pages at `/if/admin/…` (the Leptos
//! [`app::admin::AdminApp`], rendered with the admin bundle's scripts), the access check in
//! front of them, and the admin server functions at `/api/admin/…`, which reach the same
//! [`Resource`](super::resource::Resource)s as the REST paths through [`UiAdminBackend`].
//!
//! Access: an anonymous visitor is sent to log in (and back here after), a signed-in user who
//! is not a superuser gets a 403 page. Server functions authenticate every call themselves
//! (superuser, and the CSRF header for anything but a server render's GET).

use std::net::SocketAddr;
use std::sync::Arc;

use app::admin::api::{AdminFnError, AdminUser};
use app::ssr::{AdminBackend, AdminRequest, SharedAdminBackend};
use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
    Router,
};
use leptos::prelude::LeptosOptions;
use leptos_axum::generate_route_list;
use serde_json::Value;

use super::admin::{self as access, NO_PERMISSION};
use super::errors::ApiError;
use super::resource::{object_of, ActionAnswer, Cx, Registry, Resource};
use super::AppState;
use crate::admin::{Actor, AdminError};
use crate::blueprints::ApplyError;

/// The admin bundle's options: the flow pages' settings with the admin bundle's name, package
/// directory and hash file (cargo-leptos' `keyflow-admin` project in Cargo.toml).
pub fn admin_options(main: &LeptosOptions) -> LeptosOptions {
    let mut options = main.clone();
    options.output_name = Arc::from(app::admin::OUTPUT_NAME);
    options.site_pkg_dir = Arc::from(app::admin::PKG_DIR);
    options.hash_file = Arc::from(app::admin::HASH_FILE);
    options.site_root = Arc::from(admin_site_root(main).as_str());
    options
}

/// The admin project's site root: beside the main one, `<site-root>-admin`.
pub fn admin_site_root(main: &LeptosOptions) -> String {
    format!("{}-admin", main.site_root.trim_end_matches('/'))
}

/// The admin backend the server functions and admin page renders find in their context.
pub fn backend(state: &AppState) -> SharedAdminBackend {
    SharedAdminBackend(Arc::new(UiAdminBackend {
        state: state.clone(),
        registry: super::admin_api::registry(),
    }))
}

/// The admin pages, each rendered whole before the first byte (`render_app_async`). Their
/// server functions are registered with the flow pages' (one registry per process), with the
/// same render context (`pages::provide_render_context`).
pub fn routes(state: &AppState) -> Router<AppState> {
    let main = state.leptos_options.clone();
    let admin = admin_options(&main);
    let render = leptos_axum::render_app_async_with_context(
        super::pages::provide_render_context(state),
        move || app::admin::admin_shell(admin.clone(), main.clone()),
    );
    // The client router lets a trailing slash follow any route (a nested index route such as
    // the flow editor's `""` is listed without one), so the server answers both spellings.
    let paths: std::collections::BTreeSet<String> = generate_route_list(app::admin::AdminApp)
        .iter()
        .flat_map(|listing| {
            let path = listing.path().to_owned();
            let other = match path.strip_suffix('/') {
                Some(bare) if !bare.is_empty() => bare.to_owned(),
                Some(_) => path.clone(),
                None => format!("{path}/"),
            };
            [path, other]
        })
        .collect();
    paths
        .iter()
        .fold(Router::new(), |router, path| {
            let render = render.clone();
            router.route(path, get(move |request: Request| render(request)))
        })
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            only_superusers,
        ))
}

/// In front of every admin page: anonymous → log in first; not a superuser → 403.
async fn only_superusers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match access::require_superuser(&state, request.headers(), &Method::GET).await {
        Ok(_) => next.run(request).await,
        Err(ApiError::Unauthenticated) => {
            let here = request
                .uri()
                .path_and_query()
                .map_or("/if/admin/", |p| p.as_str())
                .to_owned();
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Redirect::to(&format!("/flows/-/default/authentication/?next={next}")).into_response()
        }
        Err(ApiError::Forbidden(_)) => forbidden_page(),
        Err(other) => other.into_response(),
    }
}

/// The 403 page: plain HTML (no bundle), saying why and where to go.
fn forbidden_page() -> Response {
    let body = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
        <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
        <title>Administrators only · keyflow</title></head>\
        <body style=\"font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem\">\
        <main data-testid=\"admin-forbidden\"><h1>Administrators only</h1>\
        <p>The admin interface is for superusers, and the account you are signed in with is not one.</p>\
        <p><a href=\"/\">Go to the start page</a> · \
        <a href=\"/flows/-/default/invalidation/\">Log out and sign in as someone else</a></p>\
        </main></body></html>";
    let mut response = (StatusCode::FORBIDDEN, Html(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// [`AdminBackend`] over the admin [`Registry`]: the server functions' way into the service
/// layer.
pub struct UiAdminBackend {
    state: AppState,
    registry: Registry,
}

impl UiAdminBackend {
    async fn actor(&self, request: &AdminRequest) -> Result<Actor, AdminFnError> {
        let peer = request
            .parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
        let parts = &request.parts;
        super::admin_api::actor(&self.state, &parts.headers, &parts.method, peer)
            .await
            .map_err(refusal)
    }

    fn resource(&self, collection: &str) -> Result<Arc<dyn Resource>, AdminFnError> {
        self.registry
            .get(collection)
            .ok_or_else(|| AdminFnError::Failed(format!("No admin collection {collection:?}.")))
    }
}

/// An authentication refusal as the UI shows it.
fn refusal(error: ApiError) -> AdminFnError {
    match error {
        ApiError::Unauthenticated => AdminFnError::Unauthenticated,
        ApiError::Forbidden(detail) => AdminFnError::Forbidden(detail.to_owned()),
        ApiError::NotFound => AdminFnError::NotFound,
        other => AdminFnError::Failed(format!("{other:?}")),
    }
}

/// A service-layer error as the UI shows it; server faults are logged, not shown in detail.
fn failure(error: AdminError) -> AdminFnError {
    match error {
        AdminError::Forbidden => AdminFnError::Forbidden(NO_PERMISSION.to_owned()),
        AdminError::NotFound => AdminFnError::NotFound,
        AdminError::MethodNotAllowed(_) => AdminFnError::Failed(error.to_string()),
        AdminError::Invalid(errors) => AdminFnError::Invalid(errors.0),
        AdminError::StageInUse { .. } => {
            AdminFnError::Invalid([("non_field_errors".to_owned(), vec![error.to_string()])].into())
        }
        other => {
            tracing::error!(error = %other, "admin server function failed");
            AdminFnError::Failed("The server could not do this; the error is in its log.".into())
        }
    }
}

fn query_map(query: Vec<(String, String)>) -> super::resource::ListQuery {
    query.into_iter().collect()
}

#[async_trait::async_trait]
impl AdminBackend for UiAdminBackend {
    async fn whoami(&self, request: &AdminRequest) -> Result<AdminUser, AdminFnError> {
        let caller =
            access::require_superuser(&self.state, &request.parts.headers, &request.parts.method)
                .await
                .map_err(refusal)?;
        let user = caller.user();
        Ok(AdminUser {
            pk: user.id,
            username: user.username.clone(),
            name: user.name.clone(),
        })
    }

    async fn list(
        &self,
        request: &AdminRequest,
        collection: &str,
        query: Vec<(String, String)>,
    ) -> Result<Vec<Value>, AdminFnError> {
        let actor = self.actor(request).await?;
        let cx = Cx {
            state: &self.state,
            actor: &actor,
        };
        self.resource(collection)?
            .list(&cx, &query_map(query))
            .await
            .map_err(failure)
    }

    async fn retrieve(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: &str,
    ) -> Result<Value, AdminFnError> {
        let actor = self.actor(request).await?;
        let cx = Cx {
            state: &self.state,
            actor: &actor,
        };
        self.resource(collection)?
            .retrieve(&cx, id)
            .await
            .map_err(failure)
    }

    async fn create(
        &self,
        request: &AdminRequest,
        collection: &str,
        body: Value,
    ) -> Result<Value, AdminFnError> {
        let actor = self.actor(request).await?;
        let cx = Cx {
            state: &self.state,
            actor: &actor,
        };
        let body = object_of(body).map_err(failure)?;
        self.resource(collection)?
            .create(&cx, body)
            .await
            .map_err(failure)
    }

    async fn update(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: &str,
        body: Value,
    ) -> Result<Value, AdminFnError> {
        let actor = self.actor(request).await?;
        let cx = Cx {
            state: &self.state,
            actor: &actor,
        };
        let body = object_of(body).map_err(failure)?;
        self.resource(collection)?
            .update(&cx, id, body, true)
            .await
            .map_err(failure)
    }

    async fn delete(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: &str,
        query: Vec<(String, String)>,
    ) -> Result<(), AdminFnError> {
        let actor = self.actor(request).await?;
        let cx = Cx {
            state: &self.state,
            actor: &actor,
        };
        self.resource(collection)?
            .destroy(&cx, id, &query_map(query))
            .await
            .map_err(failure)
    }

    async fn action(
        &self,
        request: &AdminRequest,
        collection: &str,
        id: Option<&str>,
        action: &str,
        body: Value,
    ) -> Result<Value, AdminFnError> {
        let actor = self.actor(request).await?;
        let cx = Cx {
            state: &self.state,
            actor: &actor,
        };
        let resource = self.resource(collection)?;
        if !resource.actions().iter().any(|a| a.name == action) {
            return Err(AdminFnError::NotFound);
        }
        let body = object_of(body).map_err(failure)?;
        match resource
            .action(&cx, action, id, body)
            .await
            .map_err(failure)?
        {
            ActionAnswer::Json(value) => Ok(value),
            ActionAnswer::Empty => Ok(Value::Null),
            ActionAnswer::File {
                content_type,
                filename,
                body,
            } => Ok(serde_json::json!({
                "filename": filename,
                "content_type": content_type,
                "body": body,
            })),
        }
    }

    async fn apply_blueprint(
        &self,
        request: &AdminRequest,
        content: String,
        dry_run: bool,
    ) -> Result<Value, AdminFnError> {
        let actor = self.actor(request).await?;
        if content.trim().is_empty() {
            return Err(AdminFnError::Invalid(
                [(
                    "content".to_owned(),
                    vec!["This field may not be blank.".to_owned()],
                )]
                .into(),
            ));
        }
        let applied = crate::admin::versions::apply_upload(
            &self.state.services.db,
            &actor,
            "upload",
            content,
            dry_run,
        )
        .await;
        match applied {
            Ok(report) => Ok(serde_json::json!({ "report": report })),
            Err(ApplyError::Invalid(error)) => Ok(serde_json::json!({ "error": error })),
            Err(ApplyError::Database(error)) => Err(failure(AdminError::Database(error))),
        }
    }
}
