//! `ak-stage-email`: "check your inbox" while the link mail is on its way, with a button that
//! sends it again. Every answer to that button carries the non-field error `email-sent`, which
//! here means "sent again", so it is shown as a notice rather than as an error.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{component::EMAIL, response_body, EmailChallenge, NON_FIELD_ERRORS};
use crate::ui::form::{FormFields, StageCx, StageForm, SubmitButton};

/// The code of the answer to "send again" (authentik's `email-sent`).
const EMAIL_SENT: &str = "email-sent";

#[component]
pub fn EmailStage(challenge: EmailChallenge, stage: StageCx) -> impl IntoView {
    let _ = challenge;
    let flow = stage.flow.clone();
    let sent_again = stage
        .errors
        .0
        .get(NON_FIELD_ERRORS)
        .is_some_and(|errors| errors.iter().any(|e| e.code == EMAIL_SENT));
    // `email-sent` is handled above; anything else still shows at the top of the form.
    let mut stage = stage;
    if let Some(errors) = stage.errors.0.get_mut(NON_FIELD_ERRORS) {
        errors.retain(|e| e.code != EMAIL_SENT);
        if errors.is_empty() {
            stage.errors.0.remove(NON_FIELD_ERRORS);
        }
    }
    view! {
        <div class="stage" data-component=EMAIL>
            <h2 class="stage-heading" tabindex="-1" autofocus>
                "Check your inbox"
            </h2>
            <p class="stage-message" data-testid="email-sent-help">
                "We sent you an email with a link. Open it to continue; you can close this page."
            </p>
            {sent_again
                .then(|| {
                    view! {
                        <p class="stage-message" role="status" data-testid="email-sent-again">
                            "If an account matches, the email was sent again."
                        </p>
                    }
                })}
            <StageForm stage=stage component=EMAIL fields=&[] to_response=email_response>
                <SubmitButton label="Send the email again" flow=flow/>
            </StageForm>
        </div>
    }
}

fn email_response(_fields: &FormFields) -> Value {
    response_body(EMAIL, &serde_json::json!({}))
}
