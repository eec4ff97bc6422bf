//! `ak-stage-captcha`: the provider's widget (see [`crate::ui::captcha`]); its token is posted
//! as `token` as soon as it arrives. After a refused token the widget waits for "Verify", so
//! an invisible captcha cannot loop against a verifier that keeps saying no.

use std::sync::Arc;

use leptos::prelude::*;
use serde_json::json;

use crate::protocol::{component::CAPTCHA, CaptchaChallenge};
use crate::ui::captcha::{CaptchaSite, CaptchaWidget};
use crate::ui::form::{FieldErrors, StageCx};
use crate::ui::pending_user::PendingUser;

#[component]
pub fn CaptchaStage(challenge: CaptchaChallenge, stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    // The stage reports under `token`; anything else is shown with it.
    let errors: Vec<String> = stage
        .errors
        .0
        .values()
        .flatten()
        .map(|e| e.string.clone())
        .collect();
    let autostart = errors.is_empty();
    let respond = flow.clone();
    let on_token = Arc::new(move |token: String| {
        respond.respond(json!({"component": CAPTCHA, "token": token}));
    });
    let site = CaptchaSite {
        site_key: challenge.site_key,
        js_url: challenge.js_url,
        interactive: challenge.interactive,
    };
    let message = if site.interactive {
        "Confirm that you are a person to continue."
    } else {
        "Checking that you are a person…"
    };
    view! {
        <div class="stage" data-component=CAPTCHA>
            <PendingUser user=challenge.user flow=flow/>
            <p class="stage-message">{message}</p>
            <FieldErrors field="token" messages=errors/>
            <CaptchaWidget captcha=site on_token autostart/>
        </div>
    }
}
