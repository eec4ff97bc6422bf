//! The browser side of flows: the server-rendered flow page (first challenge rendered on the
//! server, so it works before — or without — WASM), the no-JavaScript form POST, and the
//! `/flows/-/…` helper redirects.

use std::net::SocketAddr;
use std::sync::Arc;

use app::protocol::{flow_page_url, ChallengeKind, FlowAnswer};
use app::ssr::{FlowBackend, PrecomputedChallenge, PrecomputedMessages, SharedFlowBackend};
use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, Path, RawQuery, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use chrono::Utc;
use leptos::prelude::provide_context;
use serde_json::Value;

use super::{
    errors::ApiError,
    executor::{parse_body, request_info, run_flow},
    session, AppState,
};
use crate::bootstrap::{DEFAULT_AUTHENTICATION_FLOW, DEFAULT_INVALIDATION_FLOW};
use crate::engine::{plan_store, request::is_safe_relative_redirect};

/// Runs the executor from inside a Leptos server render.
pub struct SsrFlowBackend {
    pub state: AppState,
}

#[async_trait::async_trait]
impl FlowBackend for SsrFlowBackend {
    async fn current_challenge(&self, slug: &str, query: &str) -> app::protocol::Challenge {
        self.current_answer(slug, query).await.challenge
    }

    /// The current challenge and its UI messages, rendered into the page (so they show without
    /// JavaScript too).
    async fn current_answer(&self, slug: &str, query: &str) -> FlowAnswer {
        let parts = leptos::prelude::use_context::<axum::http::request::Parts>();
        let headers = parts
            .as_ref()
            .map(|p| p.headers.clone())
            .unwrap_or_default();
        let peer = parts
            .as_ref()
            .and_then(|p| p.extensions.get::<ConnectInfo<SocketAddr>>())
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let info = request_info(
            &self.state,
            &headers,
            peer,
            parts.as_ref().map_or("GET", |p| p.method.as_str()),
            parts.as_ref().map_or("", |p| p.uri.path()),
            parts.as_ref().and_then(|p| p.uri.query()),
        );
        let outcome = async {
            let mut session = session::current_or_new(&self.state, &headers, &info).await?;
            let answer = run_flow(&self.state, &mut session, slug, query, None, info).await?;
            Ok::<_, ApiError>((session, answer))
        }
        .await;
        match outcome {
            Ok((session, answer)) => {
                if let Some(response) =
                    leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
                {
                    for cookie in session::set_cookie_headers(&self.state, &session) {
                        response.append_header(header::SET_COOKIE, cookie);
                    }
                }
                answer
            }
            Err(error) => {
                if matches!(error, ApiError::NotFound) {
                    if let Some(response) =
                        leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
                    {
                        response.set_status(StatusCode::NOT_FOUND);
                    }
                }
                let engine_error = crate::engine::EngineError::CorruptData(format!("{error:?}"));
                FlowAnswer::without_messages(super::errors::flow_error_challenge(
                    &engine_error,
                    false,
                ))
            }
        }
    }

    async fn visitor(&self) -> app::ssr::Visitor {
        use app::ssr::{SessionUser, Visitor};
        let Some(parts) = leptos::prelude::use_context::<axum::http::request::Parts>() else {
            return Visitor::Unknown;
        };
        match session::current(&self.state, &parts.headers).await {
            Ok(Some(crate::sessions::ActiveSession {
                user: Some(user), ..
            })) => Visitor::SignedIn(SessionUser {
                username: user.username,
                name: user.name,
                email: user.email,
                is_superuser: user.is_superuser,
            }),
            Ok(_) => Visitor::Anonymous,
            Err(error) => {
                tracing::warn!(%error, "session lookup failed during render");
                Visitor::Unknown
            }
        }
    }
}

/// Context every server render and server function gets: the flow backend and the admin backend.
pub fn provide_render_context(state: &AppState) -> impl Fn() + Clone + Send + Sync + 'static {
    let backend = SharedFlowBackend(Arc::new(SsrFlowBackend {
        state: state.clone(),
    }));
    let admin = super::admin_ui::backend(state);
    move || {
        provide_context(backend.clone());
        provide_context(admin.clone());
    }
}

/// A form POST from the server-rendered page (no JavaScript): runs the response through the
/// executor, then either follows the final redirect (303) or renders the page with the answer.
pub async fn flow_form_post(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(raw_query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, state.max_body_bytes)
        .await
        .map_err(|_| ApiError::BadRequest("Request body too large or unreadable.".into()))?;
    let mut body = parse_body(&headers, &bytes)?;
    let form_csrf = body
        .get("csrf_token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Value::Object(map) = &mut body {
        map.remove("csrf_token");
    }
    if let Some(typed) = typed_prompt_form(&headers, &bytes, &body) {
        body = typed;
    }
    let info = request_info(
        &state,
        &headers,
        peer,
        parts.method.as_str(),
        parts.uri.path(),
        None,
    );
    let mut session = session::current_or_new(&state, &headers, &info).await?;
    if session.user.is_some() && !session::csrf_ok(&session, &headers, form_csrf.as_deref()) {
        return Err(ApiError::Forbidden(
            "CSRF Failed: CSRF token missing or incorrect.",
        ));
    }
    let query = raw_query.unwrap_or_default();
    let FlowAnswer {
        challenge,
        messages,
    } = run_flow(&state, &mut session, &slug, &query, Some(body), info).await?;
    let cookies = session::set_cookie_headers(&state, &session);

    let mut response = if let ChallengeKind::Redirect(redirect) = &challenge.kind {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(location) = HeaderValue::from_str(&redirect.to) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    } else {
        let options = state.leptos_options.clone();
        let base_context = provide_render_context(&state);
        let render = leptos_axum::render_app_async_with_context(
            move || {
                base_context();
                provide_context(PrecomputedChallenge(challenge.clone()));
                provide_context(PrecomputedMessages(messages.clone()));
            },
            move || app::shell(options.clone()),
        );
        let mut get_parts = parts;
        get_parts.method = axum::http::Method::GET;
        render(Request::from_parts(get_parts, Body::empty()))
            .await
            .into_response()
    };
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// A prompt stage's form arrives as text pairs: the same conversion the hydrated page runs
/// (`app::ui::stages::prompt_form_response`) makes them the JSON the stage takes (booleans for
/// checkboxes, integers for numbers, empty optional inputs left out). `None` for anything else.
fn typed_prompt_form(headers: &HeaderMap, bytes: &Bytes, body: &Value) -> Option<Value> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let is_prompt =
        body.get("component").and_then(Value::as_str) == Some(app::protocol::component::PROMPT);
    if !(is_form && is_prompt) {
        return None;
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes).ok()?;
    Some(app::ui::stages::prompt_form_response(&app::ui::FormFields(
        pairs,
    )))
}

fn to_flow(slug: &str, raw_query: Option<String>) -> Redirect {
    Redirect::to(&flow_page_url(slug, raw_query.as_deref().unwrap_or("")))
}

pub async fn default_authentication(RawQuery(q): RawQuery) -> Redirect {
    to_flow(DEFAULT_AUTHENTICATION_FLOW, q)
}

pub async fn default_invalidation(RawQuery(q): RawQuery) -> Redirect {
    to_flow(DEFAULT_INVALIDATION_FLOW, q)
}

/// Abandons the running flow, then goes to `next` (same origin only) or logs out.
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Redirect, ApiError> {
    if let Some(session) = session::current(&state, &headers).await? {
        plan_store::delete(&state.services, session.id).await?;
    }
    let _ = Utc::now();
    Ok(
        match params.get("next").filter(|n| is_safe_relative_redirect(n)) {
            Some(next) => Redirect::to(next),
            None => Redirect::to("/flows/-/default/invalidation/"),
        },
    )
}
