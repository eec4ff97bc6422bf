//! `ak-stage-flow-error`: the server failed unexpectedly. The request id lets an administrator
//! find the log entry; the error text is only sent to superusers.

use leptos::prelude::*;

use crate::protocol::{component::FLOW_ERROR, flow_page_url, FlowErrorChallenge};
use crate::ui::form::StageCx;

#[component]
pub fn FlowErrorStage(challenge: FlowErrorChallenge, stage: StageCx) -> impl IntoView {
    let restart = flow_page_url(&stage.flow.slug, &stage.flow.query);
    view! {
        <div class="stage" data-component=FLOW_ERROR>
            <h2 class="stage-heading" tabindex="-1" autofocus>
                "Something went wrong"
            </h2>
            <p class="stage-message">
                "The flow could not continue. Please try again; if it keeps happening, \
                 give your administrator this request id: "
                <code data-testid="request-id">{challenge.request_id}</code>
            </p>
            {challenge.error.map(|error| view! { <pre class="error-detail">{error}</pre> })}
            <a class="button" href=restart rel="external" data-testid="restart">
                "Start over"
            </a>
        </div>
    }
}
