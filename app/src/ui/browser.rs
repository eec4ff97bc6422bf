//! Browser-only plumbing (compiled into the WASM only): talking to the executor API with
//! gloo-net, leaving the page, moving focus. Every failure becomes a sentence for the card;
//! nothing here panics on what the network sends.

use gloo_net::http::{Request, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::JsCast;

use super::cookies::csrf_token;
use super::links::safe_href;
use crate::protocol::{executor_url, messages_from_headers, FlowAnswer, MESSAGES_HEADER};

/// `GET` the current challenge (client-side navigation to another flow).
// A workspace-wide `cargo clippy` turns `ssr` and `hydrate` on together; then the server-side
// resource is compiled instead of the one that calls this.
#[cfg_attr(feature = "ssr", allow(dead_code))]
pub async fn get_challenge(slug: &str, query: &str) -> Result<FlowAnswer, String> {
    let response = Request::get(&executor_url(slug, query))
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(unreachable_server)?;
    read_answer(response).await
}

/// `POST` a challenge response; the answer is the next challenge (the API's 302 to itself is
/// followed by fetch).
pub async fn post_challenge(slug: &str, query: &str, body: &Value) -> Result<FlowAnswer, String> {
    let mut builder =
        Request::post(&executor_url(slug, query)).header("Accept", "application/json");
    // Required once the session is signed in; read at send time, as login rotates it.
    if let Some(token) = csrf_token() {
        builder = builder.header("X-CSRF-Token", &token);
    }
    let request = builder
        .json(body)
        .map_err(|e| format!("Could not build the request: {e}"))?;
    let response = request.send().await.map_err(unreachable_server)?;
    read_answer(response).await
}

/// The challenge and the UI messages beside it (`fetch` joins repeated headers with `, `).
async fn read_answer(response: Response) -> Result<FlowAnswer, String> {
    let joined = response.headers().get(MESSAGES_HEADER);
    let messages = messages_from_headers(joined.as_deref());
    Ok(FlowAnswer {
        challenge: read_json(response).await?,
        messages,
    })
}

/// `GET` a JSON API; `Ok(None)` when the server says 401/403 (not signed in).
pub async fn get_json_if_allowed<T: DeserializeOwned>(url: &str) -> Result<Option<T>, String> {
    let response = Request::get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(unreachable_server)?;
    if matches!(response.status(), 401 | 403) {
        return Ok(None);
    }
    read_json(response).await.map(Some)
}

fn unreachable_server(error: gloo_net::Error) -> String {
    format!("Could not reach the server ({error}). Check your connection and try again.")
}

#[derive(Deserialize)]
struct Detail {
    detail: String,
}

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, String> {
    let status = response.status();
    if status == 200 {
        return response.json::<T>().await.map_err(|e| {
            format!("The server sent an answer this page does not understand ({e}).")
        });
    }
    match response.json::<Detail>().await {
        Ok(Detail { detail }) => Err(format!("{detail} (HTTP {status})")),
        Err(_) => Err(format!(
            "The server answered HTTP {status} {}.",
            response.status_text()
        )),
    }
}

/// Leaves the single-page flow for `to` (the end of a flow). Unsafe targets are ignored; the
/// card still shows them as text.
pub fn navigate(to: &str) {
    if let Some(to) = safe_href(to) {
        let _ = leptos::prelude::window().location().assign(to);
    }
}

/// Browsers honour `autofocus` only on page load; after a challenge is swapped in, the new
/// stage's marked element is focused by hand.
pub fn focus_autofocus() {
    let target = leptos::prelude::document()
        .query_selector(".flow-card [autofocus]")
        .ok()
        .flatten()
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(element) = target {
        let _ = element.focus();
    }
}
