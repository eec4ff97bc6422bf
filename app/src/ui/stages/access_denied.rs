//! `ak-stage-access-denied`: the flow ended without success. The plan is already gone on the
//! server, so "start over" is simply the flow page again.

use leptos::prelude::*;

use crate::protocol::{component::ACCESS_DENIED, flow_page_url, AccessDeniedChallenge};
use crate::ui::form::StageCx;
use crate::ui::pending_user::PendingUser;

#[component]
pub fn AccessDeniedStage(challenge: AccessDeniedChallenge, stage: StageCx) -> impl IntoView {
    let restart = flow_page_url(&stage.flow.slug, &stage.flow.query);
    let message = challenge
        .error_message
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "Unknown error".to_owned());
    view! {
        <div class="stage" data-component=ACCESS_DENIED>
            <PendingUser user=challenge.user flow=stage.flow.clone()/>
            // Focus lands on the heading so screen readers announce the outcome first.
            <h2 class="stage-heading" tabindex="-1" autofocus>
                "Request has been denied."
            </h2>
            <p class="stage-message" data-testid="error-message">
                {message}
            </p>
            <a class="button" href=restart rel="external" data-testid="restart">
                "Start over"
            </a>
        </div>
    }
}
