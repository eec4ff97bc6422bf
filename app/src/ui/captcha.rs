//! The captcha widget (spec §4.10), shared by the captcha stage and identification's embedded
//! captcha: the provider's script is loaded from `js_url`, its widget rendered into a
//! container, and every token it produces handed to `on_token`.
//!
//! Providers are told apart by the global their script defines (`grecaptcha`, `hcaptcha`,
//! `turnstile`); all three take `render(container, {sitekey, callback, size})`. An invisible
//! widget (`interactive: false`) is solved at once with `execute(widget_id)`, as authentik's
//! client does; an interactive one waits for the person (e.g. the "I'm not a robot" box).

use std::sync::Arc;

use leptos::{html, prelude::*};

/// What is done with each token the widget produces.
pub type OnToken = Arc<dyn Fn(String) + Send + Sync>;

/// The provider's widget to show: the site key, the script and whether it is visible.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptchaSite {
    pub site_key: String,
    pub js_url: String,
    pub interactive: bool,
}

/// The globals of the supported providers, in the order they are looked for.
#[cfg(feature = "hydrate")]
const PROVIDER_GLOBALS: [&str; 3] = ["grecaptcha", "hcaptcha", "turnstile"];

/// How long the provider's script may take to define its global, in milliseconds.
#[cfg(feature = "hydrate")]
const LOAD_TIMEOUT_MS: i32 = 15_000;

/// The widget's container; `on_token` gets each token the widget produces. A script that
/// does not load is said in place. Without `autostart` the widget waits for a "Verify"
/// button (after a refused token, so an invisible widget does not loop on its own).
#[component]
pub fn CaptchaWidget(
    captcha: CaptchaSite,
    on_token: OnToken,
    #[prop(default = true)] autostart: bool,
) -> impl IntoView {
    let container = NodeRef::<html::Div>::new();
    let failure = RwSignal::new(None::<String>);
    let started = RwSignal::new(autostart);
    // Effects run in the browser only, once hydrated.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let (Some(element), true) = (container.get(), started.get()) {
            let (captcha, on_token) = (captcha.clone(), on_token.clone());
            leptos::task::spawn_local(async move {
                if let Err(message) = browser::mount(element.into(), &captcha, on_token).await {
                    failure.set(Some(message));
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (&captcha, &on_token, container, started);
    });
    view! {
        <div class="captcha">
            <div
                class="captcha-widget"
                data-testid="captcha-widget"
                node_ref=container
            ></div>
            <button
                type="button"
                class="button"
                data-testid="captcha-start"
                hidden=move || started.get()
                on:click=move |_| started.set(true)
            >
                "Verify"
            </button>
            {move || {
                failure
                    .get()
                    .map(|message| {
                        view! {
                            <div class="alert" role="alert" data-testid="captcha-error">
                                {message}
                            </div>
                        }
                    })
            }}
            <noscript>
                <p class="muted">"This check needs JavaScript in this browser."</p>
            </noscript>
        </div>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use js_sys::{Function, Object, Promise, Reflect};
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    use super::{CaptchaSite, OnToken, LOAD_TIMEOUT_MS, PROVIDER_GLOBALS};

    const LOAD_FAILED: &str = "The captcha could not be loaded. Reload the page to try again.";

    /// Loads the script (once per page), waits for the provider and renders the widget.
    pub async fn mount(
        container: web_sys::HtmlElement,
        captcha: &CaptchaSite,
        on_token: OnToken,
    ) -> Result<(), String> {
        let window = web_sys::window().ok_or(LOAD_FAILED)?;
        // A re-rendered form reuses the container: one widget in it at a time.
        container.set_inner_html("");
        load_script(&window, &captcha.js_url)?;
        let (name, provider) = wait_for_provider(&window).await?;
        if let Ok(ready) = method(&provider, "ready") {
            // grecaptcha and turnstile call back once their API is usable.
            let promise = Promise::new(&mut |resolve, _| {
                let _ = ready.call1(&provider, &resolve);
            });
            JsFuture::from(promise).await.map_err(|_| LOAD_FAILED)?;
        }
        let callback = Closure::<dyn Fn(JsValue)>::new(move |token: JsValue| {
            if let Some(token) = token.as_string().filter(|t| !t.is_empty()) {
                on_token(token);
            }
        });
        let options = Object::new();
        set(&options, "sitekey", &captcha.site_key.as_str().into());
        set(&options, "callback", callback.as_ref());
        // Turnstile's invisibility is a setting of the site, not of the widget.
        if !captcha.interactive && name != "turnstile" {
            set(&options, "size", &"invisible".into());
        }
        let render = method(&provider, "render")?;
        let widget = render
            .call2(&provider, &container, &options)
            .map_err(|_| LOAD_FAILED)?;
        // The widget calls back for as long as the page lives (a re-solved checkbox).
        callback.forget();
        if !captcha.interactive {
            let execute = method(&provider, "execute")?;
            let target = if name == "turnstile" {
                container.into()
            } else {
                widget
            };
            let _ = execute.call1(&provider, &target);
        }
        Ok(())
    }

    fn set(object: &Object, key: &str, value: &JsValue) {
        let _ = Reflect::set(object, &key.into(), value);
    }

    fn method(object: &JsValue, name: &str) -> Result<Function, String> {
        Reflect::get(object, &name.into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or_else(|| LOAD_FAILED.to_owned())
    }

    thread_local! {
        /// The script URLs this page already added (a re-rendered form must not load twice).
        static LOADED: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Adds `<script src=js_url async>` unless this page already did.
    fn load_script(window: &web_sys::Window, js_url: &str) -> Result<(), String> {
        if LOADED.with_borrow(|loaded| loaded.iter().any(|url| url == js_url)) {
            return Ok(());
        }
        let document = window.document().ok_or(LOAD_FAILED)?;
        let script = document.create_element("script").map_err(|_| LOAD_FAILED)?;
        let _ = script.set_attribute("src", js_url);
        let _ = script.set_attribute("async", "");
        let head = document.head().ok_or(LOAD_FAILED)?;
        head.append_child(&script).map_err(|_| LOAD_FAILED)?;
        LOADED.with_borrow_mut(|loaded| loaded.push(js_url.to_owned()));
        Ok(())
    }

    /// The first provider global with a `render` function, once the script defined it.
    async fn wait_for_provider(
        window: &web_sys::Window,
    ) -> Result<(&'static str, JsValue), String> {
        let step = 50;
        for _ in 0..(LOAD_TIMEOUT_MS / step) {
            for name in PROVIDER_GLOBALS {
                let global = Reflect::get(window, &name.into()).unwrap_or(JsValue::UNDEFINED);
                if method(&global, "render").is_ok() {
                    return Ok((name, global));
                }
            }
            sleep(window, step).await;
        }
        Err(LOAD_FAILED.to_owned())
    }

    async fn sleep(window: &web_sys::Window, ms: i32) {
        let promise = Promise::new(&mut |resolve, _| {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        });
        let _ = JsFuture::from(promise).await;
    }
}
