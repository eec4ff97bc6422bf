//! `ak-stage-authenticator-static`: shows the new recovery codes once, with a copy button, and
//! saves them when the person confirms they stored them.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{
    component::AUTHENTICATOR_STATIC, response_body, AuthenticatorStaticChallenge,
    AuthenticatorStaticResponse,
};
use crate::ui::form::{FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::pending_user::PendingUser;

#[component]
pub fn AuthenticatorStaticStage(
    challenge: AuthenticatorStaticChallenge,
    stage: StageCx,
) -> impl IntoView {
    let flow = stage.flow.clone();
    let all_codes = challenge.codes.join("\n");
    view! {
        <div class="stage" data-component=AUTHENTICATOR_STATIC>
            <PendingUser user=challenge.user flow=flow.clone()/>
            <p class="stage-message" id="static-codes-help">
                "Store these recovery codes somewhere safe. Each works once, and they will not be shown again."
            </p>
            <ul class="static-codes" data-testid="static-codes" aria-describedby="static-codes-help">
                {challenge
                    .codes
                    .into_iter()
                    .map(|code| view! { <li><code>{code}</code></li> })
                    .collect_view()}
            </ul>
            <CopyButton text=all_codes/>
            <StageForm
                stage=stage.clone()
                component=AUTHENTICATOR_STATIC
                fields=&[]
                to_response=static_response
            >
                <SubmitButton label="I have saved my codes" flow=flow/>
            </StageForm>
        </div>
    }
}

fn static_response(_fields: &FormFields) -> Value {
    response_body(AUTHENTICATOR_STATIC, &AuthenticatorStaticResponse {})
}

/// Copies `text` to the clipboard (needs JavaScript; hidden by CSS until hydrated, like the
/// password reveal). The outcome is announced.
#[component]
fn CopyButton(text: String) -> impl IntoView {
    let status = RwSignal::new(String::new());
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        status.set(match copy_to_clipboard(&text) {
            Ok(()) => "Copied.".to_owned(),
            Err(message) => message,
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <div class="copy-row">
            <button type="button" class="button copy-codes" on:click=copy data-testid="copy-codes">
                "Copy codes"
            </button>
            <span class="muted" role="status">{move || status.get()}</span>
        </div>
    }
}

/// `navigator.clipboard.writeText(text)`, reached by reflection so no extra `web-sys` features
/// are needed. The promise is not awaited: the browser reports refusals itself.
#[cfg(feature = "hydrate")]
fn copy_to_clipboard(text: &str) -> Result<(), String> {
    use wasm_bindgen::{JsCast, JsValue};
    let failed = || "Copying is not available here: select the codes and copy them.".to_owned();
    let navigator = web_sys::window().ok_or_else(failed)?.navigator();
    let clipboard =
        js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard")).map_err(|_| failed())?;
    let write = js_sys::Reflect::get(&clipboard, &JsValue::from_str("writeText"))
        .map_err(|_| failed())?
        .dyn_into::<js_sys::Function>()
        .map_err(|_| failed())?;
    write
        .call1(&clipboard, &JsValue::from_str(text))
        .map(|_| ())
        .map_err(|_| failed())
}
