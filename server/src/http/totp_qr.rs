//! `GET /-/flows/totp-qr.svg`: the QR code of the TOTP set-up in the session's running flow
//! (see `stages::authenticator_totp::setup_qr_svg`). 404 when there is none; never cached, as
//! it encodes a secret.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::{errors::ApiError, session, AppState};
use crate::stages::authenticator_totp::setup_qr_svg;

pub async fn totp_qr(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(session) = session::current(&state, &headers).await? else {
        return Err(ApiError::NotFound);
    };
    let Some(svg) = setup_qr_svg(&state.services, session.id, Utc::now()).await? else {
        return Err(ApiError::NotFound);
    };
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        svg,
    )
        .into_response())
}
