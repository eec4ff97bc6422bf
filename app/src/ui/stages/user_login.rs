//! `ak-stage-user-login`, shown only when the stage offers "remember me": the answer decides
//! how long the session lasts.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{
    component::USER_LOGIN, response_body, UserLoginChallenge, UserLoginResponse,
};
use crate::ui::form::{FieldErrors, FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::pending_user::PendingUser;

#[component]
pub fn UserLoginStage(challenge: UserLoginChallenge, stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let errors = stage.errors_for("remember_me");
    view! {
        <div class="stage" data-component=USER_LOGIN>
            <PendingUser user=challenge.user flow=flow.clone()/>
            <StageForm
                stage=stage.clone()
                component=USER_LOGIN
                fields=&["remember_me"]
                to_response=user_login_response
            >
                // `remember_me` is required: an unticked box sends nothing, so this hidden
                // "false" comes first and a ticked box's "true" after it wins.
                <input type="hidden" name="remember_me" value="false"/>
                <div class="checkbox">
                    <input
                        type="checkbox"
                        id="remember_me"
                        name="remember_me"
                        value="true"
                        autofocus
                    />
                    <label for="remember_me">"Stay signed in"</label>
                </div>
                <FieldErrors field="remember_me" messages=errors/>
                <SubmitButton label="Continue" flow=flow/>
            </StageForm>
        </div>
    }
}

fn user_login_response(fields: &FormFields) -> Value {
    let response = UserLoginResponse {
        remember_me: fields.get("remember_me").as_deref() == Some("true"),
    };
    response_body(USER_LOGIN, &response)
}
