//! The fallback for challenge components this client has no view for yet: say so plainly and
//! offer the way out, instead of a blank card.

use leptos::prelude::*;

use crate::ui::form::StageCx;
use crate::ui::links::{restart_via_cancel, safe_href};

#[component]
pub fn UnsupportedStage(component: &'static str, stage: StageCx) -> impl IntoView {
    let cancel = stage
        .flow_info
        .as_ref()
        .and_then(|info| safe_href(&info.cancel_url))
        .map(str::to_owned)
        .unwrap_or_else(|| restart_via_cancel(&stage.flow.slug, &stage.flow.query));
    view! {
        <div class="stage" data-component=component>
            <h2 class="stage-heading" tabindex="-1" autofocus>
                "This step is not supported by this client yet"
            </h2>
            <p class="stage-message">
                "The flow asked for " <code data-testid="unsupported-component">{component}</code>
                ", which this page cannot show yet."
            </p>
            <a class="button" href=cancel rel="external">
                "Cancel"
            </a>
        </div>
    }
}
