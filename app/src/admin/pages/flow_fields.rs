//! A flow's fields as one form part, shared by "create a flow" (the four a new flow needs) and
//! the editor's settings (all of authentik's `FlowRequest` fields).

use leptos::prelude::*;
use serde_json::{json, Value};

use crate::admin::model::{choices, Flow};
use crate::admin::widgets::{CheckBox, ChoiceSelect, FormError, TextInput};

/// The fields being edited, one signal each.
#[derive(Clone, Copy)]
pub struct FlowDraft {
    pub name: RwSignal<String>,
    pub slug: RwSignal<String>,
    pub title: RwSignal<String>,
    pub designation: RwSignal<String>,
    pub authentication: RwSignal<String>,
    pub layout: RwSignal<String>,
    pub denied_action: RwSignal<String>,
    pub policy_engine_mode: RwSignal<String>,
    pub compatibility_mode: RwSignal<bool>,
    pub background: RwSignal<String>,
}

impl FlowDraft {
    /// The draft of `flow` (a new flow: [`Flow::default`] with authentik's defaults).
    pub fn of(flow: &Flow) -> Self {
        let or = |value: &str, default: &str| {
            RwSignal::new(if value.is_empty() { default } else { value }.to_owned())
        };
        Self {
            name: RwSignal::new(flow.name.clone()),
            slug: RwSignal::new(flow.slug.clone()),
            title: RwSignal::new(flow.title.clone()),
            designation: or(&flow.designation, "authentication"),
            authentication: or(&flow.authentication, "none"),
            layout: or(&flow.layout, "stacked"),
            denied_action: or(&flow.denied_action, "message_continue"),
            policy_engine_mode: or(&flow.policy_engine_mode, "any"),
            compatibility_mode: RwSignal::new(flow.compatibility_mode),
            background: RwSignal::new(flow.background.clone()),
        }
    }

    /// The request body: the four basic fields, or (`all`) every field.
    pub fn body(&self, all: bool) -> Value {
        let mut body = json!({
            "name": self.name.get(),
            "slug": self.slug.get(),
            "title": self.title.get(),
            "designation": self.designation.get(),
        });
        if all {
            body["authentication"] = json!(self.authentication.get());
            body["layout"] = json!(self.layout.get());
            body["denied_action"] = json!(self.denied_action.get());
            body["policy_engine_mode"] = json!(self.policy_engine_mode.get());
            body["compatibility_mode"] = json!(self.compatibility_mode.get());
            body["background"] = json!(self.background.get());
        }
        body
    }
}

/// The fields that show their own errors (the rest go to the form's alert).
pub const FLOW_FIELDS: &[&str] = &[
    "name",
    "slug",
    "title",
    "designation",
    "authentication",
    "layout",
    "denied_action",
    "policy_engine_mode",
    "background",
];

/// The inputs of `draft`: the basic four, and with `all` every other field.
#[component]
pub fn FlowFields(
    draft: FlowDraft,
    error: FormError,
    #[prop(into)] id_prefix: String,
    #[prop(optional)] all: bool,
) -> impl IntoView {
    let p = id_prefix;
    let more = all.then(|| {
        let p = p.clone();
        view! {
            <ChoiceSelect label="Authentication" field="authentication" choices=choices::AUTHENTICATION value=draft.authentication error id_prefix=p.clone()/>
            <ChoiceSelect label="Layout" field="layout" choices=choices::LAYOUT value=draft.layout error id_prefix=p.clone()/>
            <ChoiceSelect label="When denied" field="denied_action" choices=choices::DENIED_ACTION value=draft.denied_action error id_prefix=p.clone()/>
            <ChoiceSelect label="Policy engine mode" field="policy_engine_mode" choices=choices::POLICY_ENGINE_MODE value=draft.policy_engine_mode error id_prefix=p.clone()/>
            <CheckBox label="Compatibility mode" field="compatibility_mode" value=draft.compatibility_mode id_prefix=p.clone()/>
            <TextInput label="Background image URL" field="background" value=draft.background error id_prefix=p/>
        }
        .into_any()
    });
    view! {
        <TextInput label="Name" field="name" value=draft.name error id_prefix=p.clone()/>
        <TextInput
            label="Slug"
            field="slug"
            value=draft.slug
            error
            id_prefix=p.clone()
            help="Letters, digits, - and _; the flow's address is /if/flow/<slug>/."
        />
        <TextInput label="Title" field="title" value=draft.title error id_prefix=p.clone()/>
        <ChoiceSelect label="Designation" field="designation" choices=choices::DESIGNATION value=draft.designation error id_prefix=p.clone()/>
        {more}
    }
    .into_any()
}
