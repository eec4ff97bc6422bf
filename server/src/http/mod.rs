//! The web layer: axum routes that translate HTTP into engine calls and back. Everything here
//! is thin; the decisions live in `engine` and `stages`.

pub mod admin;
pub mod admin_api;
pub mod admin_events;
pub mod admin_flow_tools;
pub mod admin_flows;
pub mod admin_policies;
pub mod admin_security;
pub mod admin_stages;
pub mod admin_ui;
pub mod authenticators;
pub mod blueprints;
pub mod errors;
pub mod executor;
pub mod groups;
pub mod health;
pub mod invitations;
pub mod pages;
pub mod pagination;
pub mod resource;
pub mod session;
pub mod static_files;
pub mod totp_qr;
pub mod users;

use axum::{
    extract::{DefaultBodyLimit, FromRef},
    http::{header, HeaderValue},
    middleware,
    routing::{get, post},
    Router,
};
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{set_header::SetResponseHeaderLayer, trace::TraceLayer};

use crate::engine::EngineServices;

#[derive(Clone)]
pub struct AppState {
    pub services: EngineServices,
    pub leptos_options: LeptosOptions,
    pub secure_cookies: bool,
    pub max_body_bytes: usize,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The whole application: API, pages, static files. Built in one place so tests drive exactly
/// what production serves.
pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(app::App);
    let shell_options = state.leptos_options.clone();
    let api = Router::new()
        .route(
            "/api/v3/flows/executor/{slug}/",
            get(executor::get).post(executor::post),
        )
        .route("/api/v3/core/users/me/", get(users::me))
        .route("/api/v3/authenticators/all/", get(authenticators::list_all))
        .route(
            "/api/v3/authenticators/email/",
            get(authenticators::list_email),
        )
        .route(
            "/api/v3/authenticators/{kind}/{id}/",
            get(authenticators::retrieve)
                .patch(authenticators::rename)
                .put(authenticators::rename)
                .delete(authenticators::destroy),
        )
        .route(
            "/api/v3/managed/blueprints/apply/",
            post(blueprints::apply_blueprint),
        )
        .route("/-/flows/totp-qr.svg", get(totp_qr::totp_qr))
        .route("/-/health/live/", get(health::live))
        .route("/-/health/ready/", get(health::ready))
        .route(
            "/flows/-/default/authentication/",
            get(pages::default_authentication),
        )
        .route(
            "/flows/-/default/invalidation/",
            get(pages::default_invalidation),
        )
        .route("/flows/-/cancel/", get(pages::cancel))
        .route("/if/flow/{slug}/", post(pages::flow_form_post))
        .merge(admin_api::routes())
        .merge(admin_ui::routes(&state));
    api.leptos_routes_with_context(
        &state,
        routes,
        pages::provide_render_context(&state),
        move || app::shell(shell_options.clone()),
    )
    .fallback(static_files::static_or_page)
    .layer(middleware::from_fn(static_files::html_revalidates))
    .layer(DefaultBodyLimit::max(state.max_body_bytes))
    // Log method and path only: query strings can carry flow tokens and invitation codes.
    .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
    }))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::if_not_present(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    ))
    .with_state(state)
}
