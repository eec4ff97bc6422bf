//! `/if/user/`: the signed-in user's MFA devices (from `GET /api/v3/authenticators/all/`), each
//! renameable and removable, with links to the set-up flows. The list is loaded by the browser
//! after hydration (the server render shows the links and a loading note, identical on both
//! sides, so hydration matches); every change is sent with the CSRF header.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use super::links::LOGIN_URL;
use crate::protocol::flow_page_url;

pub const TOTP_SETUP_FLOW: &str = "default-authenticator-totp-setup";
pub const STATIC_SETUP_FLOW: &str = "default-authenticator-static-setup";
pub const WEBAUTHN_SETUP_FLOW: &str = "default-authenticator-webauthn-setup";

/// The part of authentik's `Device` this page shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceEntry {
    pub pk: String,
    pub name: String,
    pub verbose_name: String,
    /// `app_label.modelname`, e.g. `authentik_stages_authenticator_totp.totpdevice`.
    pub meta_model_name: String,
    #[serde(default)]
    pub last_used: Option<String>,
}

impl DeviceEntry {
    /// The API path segment of this device's kind (`totp`, `static`, `webauthn`).
    pub fn kind(&self) -> &str {
        let model = self.meta_model_name.rsplit('.').next().unwrap_or("");
        model.strip_suffix("device").unwrap_or(model)
    }

    pub fn api_url(&self) -> String {
        format!("/api/v3/authenticators/{}/{}/", self.kind(), self.pk)
    }
}

// Only the browser loads the list; the server render is always `Loading`.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq)]
enum Devices {
    Loading,
    SignedOut,
    Loaded(Vec<DeviceEntry>),
    Failed(String),
}

#[component]
pub fn UserSettingsPage() -> impl IntoView {
    let devices = RwSignal::new(Devices::Loading);
    let problem = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| reload(devices));
    let next = "next=%2Fif%2Fuser%2F";
    view! {
        <Title text="Your authenticators"/>
        <main class="flow-page">
            <div class="flow-card" data-testid="user-settings">
                <h1 class="flow-title">"Your authenticators"</h1>
                {move || {
                    problem
                        .get()
                        .map(|m| view! { <div class="alert" role="alert">{m}</div> })
                }}
                {move || match devices.get() {
                    Devices::Loading => {
                        view! {
                            <p class="muted" aria-busy="true">"Loading your devices…"</p>
                            <noscript><p>"This page needs JavaScript."</p></noscript>
                        }
                            .into_any()
                    }
                    Devices::SignedOut => {
                        view! {
                            <p class="stage-message">"You are not signed in."</p>
                            <a class="button primary" href=LOGIN_URL rel="external">"Log in"</a>
                        }
                            .into_any()
                    }
                    Devices::Failed(message) => {
                        view! { <div class="alert" role="alert">{message}</div> }.into_any()
                    }
                    Devices::Loaded(list) if list.is_empty() => {
                        view! {
                            <p class="stage-message" data-testid="no-devices">
                                "You have no authenticators yet."
                            </p>
                        }
                            .into_any()
                    }
                    Devices::Loaded(list) => {
                        view! {
                            <ul class="device-list" data-testid="device-list">
                                {list
                                    .into_iter()
                                    .map(|d| view! { <DeviceRow device=d devices problem/> })
                                    .collect_view()}
                            </ul>
                        }
                            .into_any()
                    }
                }}
                <h2>"Add an authenticator"</h2>
                <ul class="stage-links">
                    <li>
                        <a href=flow_page_url(TOTP_SETUP_FLOW, next) rel="external" data-testid="setup-totp">
                            "Authenticator app (TOTP)"
                        </a>
                    </li>
                    <li>
                        <a href=flow_page_url(STATIC_SETUP_FLOW, next) rel="external" data-testid="setup-static">
                            "Recovery codes"
                        </a>
                    </li>
                    <li>
                        <a href=flow_page_url(WEBAUTHN_SETUP_FLOW, next) rel="external" data-testid="setup-webauthn">
                            "Security key or passkey"
                        </a>
                    </li>
                </ul>
                <p>
                    <a href="/" rel="external">"Back to the start page"</a>
                </p>
            </div>
        </main>
    }
}

#[component]
fn DeviceRow(
    device: DeviceEntry,
    devices: RwSignal<Devices>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    let input_id = format!("device-name-{}-{}", device.kind(), device.pk);
    let name = RwSignal::new(device.name.clone());
    let url = device.api_url();
    let rename = {
        let url = url.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            #[cfg(feature = "hydrate")]
            {
                let url = url.clone();
                let new_name = name.get_untracked();
                leptos::task::spawn_local(async move {
                    let body = serde_json::json!({ "name": new_name });
                    match send("PATCH", &url, Some(&body)).await {
                        Ok(()) => {
                            problem.set(None);
                            reload(devices);
                        }
                        Err(message) => problem.set(Some(message)),
                    }
                });
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = (&url, devices, problem);
        }
    };
    let remove = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let url = url.clone();
            leptos::task::spawn_local(async move {
                match send("DELETE", &url, None).await {
                    Ok(()) => {
                        problem.set(None);
                        reload(devices);
                    }
                    Err(message) => problem.set(Some(message)),
                }
            });
        }
    };
    let last_used = device
        .last_used
        .clone()
        .map(|t| format!("Last used {}", t.get(..16).unwrap_or(&t).replace('T', " ")))
        .unwrap_or_else(|| "Never used".to_owned());
    view! {
        <li class="device" data-device-kind=device.kind().to_owned()>
            <form class="device-rename" on:submit=rename>
                <label for=input_id.clone()>{device.verbose_name.clone()}</label>
                <div class="input-row">
                    <input
                        id=input_id
                        name="name"
                        type="text"
                        maxlength="64"
                        required
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <button type="submit" class="button">"Rename"</button>
                    <button type="button" class="button danger" on:click=remove>
                        "Remove"
                    </button>
                </div>
            </form>
            <p class="muted">{last_used}</p>
        </li>
    }
}

/// Loads the list into `devices`.
#[cfg(feature = "hydrate")]
fn reload(devices: RwSignal<Devices>) {
    leptos::task::spawn_local(async move {
        let answer = fetch_devices().await;
        devices.set(match answer {
            Ok(Some(list)) => Devices::Loaded(list),
            Ok(None) => Devices::SignedOut,
            Err(message) => Devices::Failed(message),
        });
    });
}

#[cfg(feature = "hydrate")]
async fn fetch_devices() -> Result<Option<Vec<DeviceEntry>>, String> {
    use gloo_net::http::Request;
    let response = Request::get("/api/v3/authenticators/all/")
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("Could not reach the server ({e})."))?;
    match response.status() {
        200 => response
            .json::<Vec<DeviceEntry>>()
            .await
            .map(Some)
            .map_err(|e| format!("The server sent an unexpected answer ({e}).")),
        401 | 403 => Ok(None),
        status => Err(format!("The server answered HTTP {status}.")),
    }
}

/// PATCH / DELETE with the session's CSRF token.
#[cfg(feature = "hydrate")]
async fn send(method: &str, url: &str, body: Option<&serde_json::Value>) -> Result<(), String> {
    use gloo_net::http::{Method, RequestBuilder};
    let method = if method == "DELETE" {
        Method::DELETE
    } else {
        Method::PATCH
    };
    let mut builder = RequestBuilder::new(url)
        .method(method)
        .header("Accept", "application/json");
    if let Some(token) = super::cookies::csrf_token() {
        builder = builder.header("X-CSRF-Token", &token);
    }
    let request = match body {
        Some(body) => builder.json(body),
        None => builder.build(),
    }
    .map_err(|e| format!("Could not build the request: {e}"))?;
    let response = request
        .send()
        .await
        .map_err(|e| format!("Could not reach the server ({e})."))?;
    match response.status() {
        200 | 204 => Ok(()),
        status => {
            let text = response.text().await.unwrap_or_default();
            Err(format!("The change was refused (HTTP {status}): {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_kind_and_url_come_from_the_model_name() {
        let device = DeviceEntry {
            pk: "7".into(),
            name: "Phone".into(),
            verbose_name: "TOTP Device".into(),
            meta_model_name: "authentik_stages_authenticator_totp.totpdevice".into(),
            last_used: None,
        };
        assert_eq!(device.kind(), "totp");
        assert_eq!(device.api_url(), "/api/v3/authenticators/totp/7/");
    }
}
