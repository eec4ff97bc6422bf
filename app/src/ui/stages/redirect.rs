//! `xak-flow-redirect`: the flow is done; the browser goes to `to`. After a JSON submit the
//! flow state has already called `location.assign`; a server-rendered redirect (a page opened
//! on a finished flow) uses a meta refresh, which also works without JavaScript. The link is
//! there for both, in case neither happens.

use leptos::prelude::*;
use leptos_meta::Meta;

use crate::protocol::{component::REDIRECT, RedirectChallenge};
use crate::ui::form::StageCx;
use crate::ui::links::safe_href;

#[component]
pub fn RedirectStage(challenge: RedirectChallenge, stage: StageCx) -> impl IntoView {
    let target = safe_href(&challenge.to).map(str::to_owned);
    let refresh = target
        .clone()
        .filter(|_| stage.flow.is_server_rendered())
        .map(|to| view! { <Meta http_equiv="refresh" content=format!("0; url={to}")/> });
    view! {
        <div class="stage" data-component=REDIRECT>
            {refresh}
            <p class="stage-message" aria-live="polite">
                "Redirecting…"
            </p>
            {match target {
                Some(href) => {
                    view! {
                        <a class="button primary" href=href rel="external" autofocus>
                            "Continue"
                        </a>
                    }
                        .into_any()
                }
                None => {
                    view! { <p class="alert" role="alert">"Refusing to follow an unsafe redirect."</p> }
                        .into_any()
                }
            }}
        </div>
    }
}
