//! `ak-stage-authenticator-webauthn`: registers a security key or passkey. The browser is asked
//! as soon as the stage appears; its credential is posted as `response`.

use leptos::prelude::*;

use super::webauthn_prompt::{Ceremony, WebauthnPrompt};
use crate::protocol::{component::AUTHENTICATOR_WEBAUTHN, AuthenticatorWebauthnChallenge};
use crate::ui::form::StageCx;
use crate::ui::pending_user::PendingUser;

#[component]
pub fn AuthenticatorWebauthnStage(
    challenge: AuthenticatorWebauthnChallenge,
    stage: StageCx,
) -> impl IntoView {
    let flow = stage.flow.clone();
    // Registration problems come under `response`; anything else is shown with them.
    let errors: Vec<String> = stage
        .errors
        .0
        .values()
        .flatten()
        .map(|e| e.string.clone())
        .collect();
    let ceremony = Ceremony::Register {
        options: challenge.registration,
        component: AUTHENTICATOR_WEBAUTHN,
    };
    view! {
        <div class="stage" data-component=AUTHENTICATOR_WEBAUTHN>
            <PendingUser user=challenge.user flow=flow.clone()/>
            <WebauthnPrompt
                ceremony
                flow
                message="Register a security key or passkey: follow your browser's prompt."
                action="Register"
                errors
            />
        </div>
    }
}
