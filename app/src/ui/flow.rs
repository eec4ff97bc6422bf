//! The flow executor page, `/if/flow/:slug/`.
//!
//! Data loading: the first challenge comes from a [`Resource`]. On the server it is the
//! `ssr::PrecomputedChallenge` of a no-JavaScript form POST if there is one (rendered without
//! waiting), else the in-process `ssr::SharedFlowBackend`; the route renders in
//! `SsrMode::Async`, so the card (and the session cookie the executor may set) is complete
//! before the first byte. The resolved value is serialized into the page, so hydration reuses
//! it instead of asking again. After that,
//! [`FlowState`] owns the current challenge: each submit POSTs JSON to the executor API and the
//! answer replaces it, or sends the browser on when it is the final `xak-flow-redirect`.

use std::sync::Arc;

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_params_map};

use super::form::{FormFields, ToResponse};
use super::links::background_style;
use super::stages;
use crate::protocol::{Challenge, FlowAnswer, UiMessage};

/// The running flow on this page, shared by the stage components (cheap to clone).
#[derive(Clone)]
pub struct FlowState {
    pub slug: Arc<str>,
    /// The page's raw query string (without `?`), forwarded to the executor as `query`.
    pub query: Arc<str>,
    /// A response is in flight.
    pub busy: RwSignal<bool>,
    challenge: RwSignal<Challenge>,
    /// Transport or HTTP errors (e.g. a 403 CSRF failure); validation errors live in the
    /// challenge itself.
    request_error: RwSignal<Option<String>>,
    /// Whether the current challenge replaced the server-rendered one.
    swapped: RwSignal<bool>,
    /// UI messages that came with the current challenge (the executor sends them beside the
    /// challenge, never inside it; see `protocol::messages`).
    messages: RwSignal<Vec<UiMessage>>,
    /// Counts the forms shown: it moves on with every challenge that is not the same stage
    /// shown again with errors (see [`starts_new_form`]), and the stage is then built afresh.
    form: RwSignal<u64>,
}

impl FlowState {
    fn new(slug: String, query: String, first: FlowAnswer) -> Self {
        Self {
            slug: slug.into(),
            query: query.into(),
            busy: RwSignal::new(false),
            challenge: RwSignal::new(first.challenge),
            request_error: RwSignal::new(None),
            swapped: RwSignal::new(false),
            messages: RwSignal::new(first.messages),
            form: RwSignal::new(0),
        }
    }

    /// True while the challenge on screen is the one the server rendered.
    pub fn is_server_rendered(&self) -> bool {
        !self.swapped.get_untracked()
    }

    /// `on:submit` of every stage form. Before hydration this handler does not exist and the
    /// browser posts the form to the page itself.
    pub fn submit(&self, ev: SubmitEvent, to_response: ToResponse) {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(form) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
            else {
                return; // let the browser post the form
            };
            ev.prevent_default();
            if self.busy.get_untracked() {
                return;
            }
            let body = to_response(&FormFields::from_form(&form));
            let this = self.clone();
            this.busy.set(true);
            leptos::task::spawn_local(async move {
                let result = super::browser::post_challenge(&this.slug, &this.query, &body).await;
                this.apply(result);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, to_response, FormFields::default());
    }

    /// Sends a response that no form produced (a WebAuthn credential from the browser), as
    /// `submit` does. Ignored while another response is in flight.
    pub fn respond(&self, body: serde_json::Value) {
        #[cfg(feature = "hydrate")]
        {
            if self.busy.get_untracked() {
                return;
            }
            let this = self.clone();
            this.busy.set(true);
            leptos::task::spawn_local(async move {
                let result = super::browser::post_challenge(&this.slug, &this.query, &body).await;
                this.apply(result);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = body;
    }

    #[cfg(feature = "hydrate")]
    fn apply(&self, result: Result<FlowAnswer, String>) {
        use crate::protocol::ChallengeKind;
        match result {
            Ok(FlowAnswer {
                challenge,
                messages,
            }) => {
                let redirect = match &challenge.kind {
                    ChallengeKind::Redirect(r) => Some(r.to.clone()),
                    _ => None,
                };
                self.request_error.set(None);
                self.messages.set(messages);
                self.swapped.set(true);
                if starts_new_form(&challenge) {
                    self.form.update(|n| *n += 1);
                }
                self.challenge.set(challenge);
                match redirect {
                    // Stay busy: the page is going away.
                    Some(to) => super::browser::navigate(&to),
                    None => {
                        self.busy.set(false);
                        request_animation_frame(super::browser::focus_autofocus);
                    }
                }
            }
            Err(message) => {
                self.request_error.set(Some(message));
                self.busy.set(false);
            }
        }
    }
}

#[component]
pub fn FlowPage() -> impl IntoView {
    let params = use_params_map();
    let search = use_location().search;
    let source = move || (params.read().get("slug").unwrap_or_default(), search.get());
    let first = first_challenge(source);
    // The answer to a no-JavaScript POST may be streamed out of order, where a Suspense would
    // only send its fallback (and need JavaScript to show the card). The challenge is known
    // already, so it is rendered directly; the resource above still serializes it, so the
    // browser hydrates this exactly like a page that went through the Suspense.
    #[cfg(feature = "ssr")]
    if let Some(crate::ssr::PrecomputedChallenge(challenge)) = use_context() {
        let (slug, query) = source();
        let messages = use_context::<crate::ssr::PrecomputedMessages>()
            .unwrap_or_default()
            .0;
        return flow_view(
            slug,
            query,
            Ok(FlowAnswer {
                challenge,
                messages,
            }),
        );
    }
    view! {
        <Suspense fallback=|| {
            view! {
                <main class="flow-page">
                    <div class="flow-card" aria-busy="true">
                        <p class="muted">"Loading…"</p>
                    </div>
                </main>
            }
        }>
            {move || Suspend::new(async move {
                let (slug, query) = source();
                flow_view(slug, query, first.await)
            })}
        </Suspense>
    }
    .into_any()
}

fn flow_view(slug: String, query: String, first: Result<FlowAnswer, String>) -> AnyView {
    match first {
        Ok(challenge) => view! { <FlowRunner slug query first=challenge/> }.into_any(),
        Err(message) => view! { <LoadError message/> }.into_any(),
    }
}

type Source = (String, String);

#[cfg(feature = "ssr")]
fn first_challenge(
    source: impl Fn() -> Source + Send + Sync + 'static,
) -> Resource<Result<FlowAnswer, String>> {
    use crate::ssr::{PrecomputedChallenge, PrecomputedMessages, SharedFlowBackend};
    let precomputed = use_context::<PrecomputedChallenge>();
    let precomputed_messages = use_context::<PrecomputedMessages>().unwrap_or_default();
    let backend = use_context::<SharedFlowBackend>();
    Resource::new(source, move |(slug, query)| {
        let precomputed = precomputed.clone();
        let precomputed_messages = precomputed_messages.clone();
        let backend = backend.clone();
        // Ready at once for a precomputed challenge, so even the streamed answer to a form POST
        // has the card inline.
        async move {
            if let Some(PrecomputedChallenge(challenge)) = precomputed {
                return Ok(FlowAnswer {
                    challenge,
                    messages: precomputed_messages.0,
                });
            }
            match backend {
                Some(backend) => Ok(backend.0.current_answer(&slug, &query).await),
                None => Err("This server has no flow executor configured.".to_owned()),
            }
        }
    })
}

/// In the browser the resource only loads when the route changes on the client; the first value
/// always comes from the server-rendered page.
#[cfg(not(feature = "ssr"))]
fn first_challenge(
    source: impl Fn() -> Source + Send + Sync + 'static,
) -> Resource<Result<FlowAnswer, String>> {
    Resource::new(source, |(slug, query)| {
        #[cfg(feature = "hydrate")]
        {
            // gloo-net futures are !Send; the WASM is single-threaded.
            send_wrapper::SendWrapper::new(async move {
                super::browser::get_challenge(&slug, &query).await
            })
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = (slug, query);
            async { Err::<FlowAnswer, String>("No flow executor in this build.".to_owned()) }
        }
    })
}

/// Whether `next` replaces the form on screen rather than showing it again with errors. A
/// challenge without `response_errors` is a new stage (or the same kind of stage afresh, such as
/// the second of two prompt stages): its inputs must start from the server's values, not keep
/// what was typed into the previous form. A challenge with errors is the same form again, where
/// keeping what the person typed is the point.
#[cfg(any(feature = "hydrate", test))]
fn starts_new_form(next: &Challenge) -> bool {
    next.response_errors
        .as_ref()
        .is_none_or(|errors| errors.0.is_empty())
}

#[component]
fn FlowRunner(slug: String, query: String, first: FlowAnswer) -> impl IntoView {
    let flow = FlowState::new(slug, query, first);
    let challenge = flow.challenge;
    let request_error = flow.request_error;
    let messages = flow.messages;
    let form = flow.form;
    let title = move || {
        challenge.with(|c| {
            c.flow_info
                .as_ref()
                .map(|info| info.title.clone())
                .unwrap_or_else(|| "keyflow".to_owned())
        })
    };
    let background = move || challenge.with(|c| background_style(c.flow_info.as_ref()));
    view! {
        <Title text=title/>
        <main class="flow-page" style=background>
            <div class="flow-card">
                <h1 class="flow-title">{title}</h1>
                {move || {
                    request_error
                        .get()
                        .map(|message| {
                            view! {
                                <div class="alert" role="alert" data-testid="request-error">
                                    {message}
                                </div>
                            }
                        })
                }}
                <MessageList messages/>
                // Keyed by the form count: a new form gets new elements. Re-rendering in place
                // would reuse the previous stage's inputs where the two line up, and an input's
                // typed (dirty) value outlives a changed `value` attribute, so the next prompt
                // would show the previous one's answers.
                <For
                    each=move || [form.get()]
                    key=|count| *count
                    children=move |_| {
                        let flow = flow.clone();
                        move || stages::render(challenge.get(), flow.clone())
                    }
                />
            </div>
            <footer class="flow-footer">"Powered by keyflow"</footer>
        </main>
    }
}

/// The UI messages of the current answer, as a polite live region (read out when they change).
#[component]
fn MessageList(messages: RwSignal<Vec<UiMessage>>) -> impl IntoView {
    view! {
        <ul class="flow-messages" role="status" aria-live="polite" data-testid="flow-messages">
            {move || {
                messages
                    .get()
                    .into_iter()
                    .map(|message| {
                        let class = format!("flow-message flow-message-{}", message.level.as_str());
                        view! { <li class=class>{message.message}</li> }
                    })
                    .collect_view()
            }}
        </ul>
    }
}

#[component]
fn LoadError(message: String) -> impl IntoView {
    view! {
        <main class="flow-page">
            <div class="flow-card">
                <h1 class="flow-title">"Something went wrong"</h1>
                <div class="alert" role="alert" data-testid="request-error">
                    {message}
                </div>
            </div>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ChallengeKind, ResponseErrors};

    fn with_errors(errors: Option<ResponseErrors>) -> Challenge {
        let mut challenge: Challenge = serde_json::from_value(serde_json::json!({
            "component": "ak-stage-prompt",
            "fields": [],
        }))
        .expect("a prompt challenge");
        assert!(matches!(challenge.kind, ChallengeKind::Prompt(_)));
        challenge.response_errors = errors;
        challenge
    }

    #[test]
    fn only_a_challenge_with_errors_keeps_the_form() {
        assert!(starts_new_form(&with_errors(None)));
        assert!(starts_new_form(&with_errors(Some(ResponseErrors::new()))));
        let errors = ResponseErrors::single("username", "Username is already taken.", "invalid");
        assert!(!starts_new_form(&with_errors(Some(errors))));
    }
}
