//! The part of a page that runs a WebAuthn ceremony: it calls the browser (at once when the
//! stage appears, again from the button), then posts the result as the stage's response. The
//! browser's refusals (cancelled, timed out, already registered, …) are shown in place with a
//! button to try again; the server's verdict comes back as the next challenge.

use leptos::prelude::*;
use serde_json::Value;

use crate::ui::flow::FlowState;
use crate::ui::form::FieldErrors;

/// Which browser call to make, with the server's options JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum Ceremony {
    /// `navigator.credentials.create`; posted as `{"component", "response": credential}`.
    Register {
        options: Value,
        component: &'static str,
    },
    /// `navigator.credentials.get`; posted as `{"component", <field>: assertion}`.
    Authenticate {
        options: Value,
        component: &'static str,
        field: &'static str,
    },
}

impl Ceremony {
    fn error_field(&self) -> &'static str {
        match self {
            Self::Register { .. } => "response",
            Self::Authenticate { field, .. } => field,
        }
    }

    /// Asks the browser, then builds the response body.
    #[cfg(feature = "hydrate")]
    async fn run(&self) -> Result<Value, String> {
        use crate::ui::webauthn::{create_credential, get_assertion};
        let (component, field, credential) = match self {
            Self::Register { options, component } => {
                (component, "response", create_credential(options).await?)
            }
            Self::Authenticate {
                options,
                component,
                field,
            } => (component, *field, get_assertion(options, None).await?),
        };
        let mut body = serde_json::Map::new();
        body.insert("component".into(), Value::String((*component).into()));
        body.insert(field.into(), credential);
        Ok(Value::Object(body))
    }
}

// Only the browser build ever fails a ceremony.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq)]
enum Status {
    Idle,
    Waiting,
    Failed(String),
}

#[component]
pub fn WebauthnPrompt(
    ceremony: Ceremony,
    flow: FlowState,
    /// What the person is asked to do.
    #[prop(into)]
    message: String,
    /// The button's label before any failure.
    action: &'static str,
    /// The server's errors about the last response; when there are some, the browser is not
    /// asked again until the person says so.
    errors: Vec<String>,
) -> impl IntoView {
    let status = RwSignal::new(Status::Idle);
    let autostart = errors.is_empty();
    let field = ceremony.error_field();
    let busy = flow.busy;
    let start = move || {
        #[cfg(feature = "hydrate")]
        {
            if status.get_untracked() == Status::Waiting || flow.busy.get_untracked() {
                return;
            }
            status.set(Status::Waiting);
            let ceremony = ceremony.clone();
            let flow = flow.clone();
            leptos::task::spawn_local(async move {
                match ceremony.run().await {
                    Ok(body) => {
                        status.set(Status::Idle);
                        flow.respond(body);
                    }
                    Err(message) => status.set(Status::Failed(message)),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&ceremony, &flow);
    };
    let start_now = start.clone();
    // Effects run in the browser only, once hydrated.
    Effect::new(move |_| {
        if autostart {
            start_now();
        }
    });
    let waiting = move || status.with(|s| *s == Status::Waiting) || busy.get();
    view! {
        <div class="webauthn-prompt" data-testid="webauthn-prompt">
            <p class="stage-message">{message}</p>
            <FieldErrors field=field messages=errors/>
            {move || match status.get() {
                Status::Waiting => {
                    view! {
                        <p class="muted" aria-live="polite" data-testid="webauthn-waiting">
                            "Waiting for your security key or passkey…"
                        </p>
                    }
                        .into_any()
                }
                Status::Failed(message) => {
                    view! {
                        <div class="alert" role="alert" data-testid="webauthn-error">
                            {message}
                        </div>
                    }
                        .into_any()
                }
                Status::Idle => ().into_any(),
            }}
            <button
                type="button"
                class="button primary"
                data-testid="webauthn-start"
                disabled=waiting
                on:click=move |_| start()
            >
                {move || {
                    if status.with(|s| matches!(s, Status::Failed(_))) { "Try again" } else { action }
                }}
            </button>
            <noscript>
                <p class="muted">"Security keys and passkeys need JavaScript in this browser."</p>
            </noscript>
        </div>
    }
}
