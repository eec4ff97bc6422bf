//! `GET/POST /api/v3/flows/executor/{slug}/?query=…`: authentik's flow executor API.

use app::protocol::{FlowAnswer, UiMessage, MESSAGES_HEADER};
use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::net::SocketAddr;

use super::{
    errors::{flow_error_challenge, ApiError},
    session, AppState,
};
use crate::engine::{
    executor::{execute_answer, FlowRequest},
    request::{FlowQuery, RequestInfo},
    EngineError,
};
use crate::sessions::ActiveSession;

#[derive(Debug, Default, Deserialize)]
pub struct ExecutorParams {
    #[serde(default)]
    pub query: String,
}

/// What the engine needs to know about this request.
pub fn request_info(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
    method: &str,
    path: &str,
    raw_query: Option<&str>,
) -> RequestInfo {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    RequestInfo {
        client_ip: peer.ip().to_string(),
        host: header(header::HOST),
        scheme: if state.secure_cookies {
            "https"
        } else {
            "http"
        }
        .to_owned(),
        user_agent: header(header::USER_AGENT),
        own_params: raw_query
            .map(|q| FlowQuery::parse(q).params)
            .unwrap_or_default(),
        path: path.to_owned(),
        method: method.to_owned(),
        headers: headers
            .iter()
            .filter(|(name, _)| {
                !matches!(
                    name.as_str(),
                    "cookie" | "authorization" | "proxy-authorization"
                )
            })
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        now: None,
    }
}

/// Runs the executor and turns engine failures into a flow-error challenge.
pub async fn run_flow(
    state: &AppState,
    session: &mut ActiveSession,
    slug: &str,
    query: &str,
    body: Option<Value>,
    info: RequestInfo,
) -> Result<FlowAnswer, ApiError> {
    let request = FlowRequest {
        slug,
        query: FlowQuery::parse(query),
        body,
        request: info,
        now: Utc::now(),
    };
    match execute_answer(&state.services, session, request).await {
        Ok(answer) => Ok(answer),
        Err(EngineError::FlowNotFound) => Err(ApiError::NotFound),
        Err(error) => {
            let superuser = session.user.as_ref().is_some_and(|u| u.is_superuser);
            Ok(FlowAnswer::without_messages(flow_error_challenge(
                &error, superuser,
            )))
        }
    }
}

/// Adds one [`MESSAGES_HEADER`] per UI message (they never go into the challenge JSON, which
/// authentik's strict clients parse; see `app::protocol::messages`).
pub fn append_message_headers(headers: &mut HeaderMap, messages: &[UiMessage]) {
    let name = HeaderName::from_static(MESSAGES_HEADER);
    for message in messages {
        if let Ok(value) = HeaderValue::from_str(&message.to_header_value()) {
            headers.append(name.clone(), value);
        }
    }
}

fn challenge_response(state: &AppState, session: &ActiveSession, answer: FlowAnswer) -> Response {
    let mut response = (StatusCode::OK, Json(answer.challenge)).into_response();
    append_message_headers(response.headers_mut(), &answer.messages);
    for cookie in session::set_cookie_headers(state, session) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn get(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(params): Query<ExecutorParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let info = request_info(&state, &headers, peer, "GET", uri.path(), uri.query());
    let mut session = session::current_or_new(&state, &headers, &info).await?;
    let answer = run_flow(&state, &mut session, &slug, &params.query, None, info).await?;
    Ok(challenge_response(&state, &session, answer))
}

/// Reads a POST body: JSON, or a form (each field a string), as authentik's parsers accept.
pub fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" | "" => {
            if body.is_empty() {
                return Ok(Value::Object(Map::new()));
            }
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))
        }
        "application/x-www-form-urlencoded" => {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|e| ApiError::BadRequest(format!("Form parse error - {e}")))?;
            Ok(Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            ))
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

pub async fn post(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(params): Query<ExecutorParams>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let info = request_info(&state, &headers, peer, "POST", uri.path(), uri.query());
    let body = parse_body(&headers, &body)?;
    let mut session = session::current_or_new(&state, &headers, &info).await?;
    // Signed-in sessions must prove the request came from our own page (anonymous flow POSTs
    // carry no authority to abuse, as in authentik).
    if session.user.is_some() && !session::csrf_ok(&session, &headers, None) {
        return Err(ApiError::Forbidden(
            "CSRF Failed: CSRF token missing or incorrect.",
        ));
    }
    let answer = run_flow(&state, &mut session, &slug, &params.query, Some(body), info).await?;
    Ok(challenge_response(&state, &session, answer))
}
