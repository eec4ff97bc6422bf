//! One component per stage challenge, in `stages/<stage>.rs`, all of the same shape:
//! `#[component] fn XStage(challenge: XChallenge, stage: StageCx) -> impl IntoView`, whose root
//! element carries `data-component="<component name>"`. [`render`] picks the component for a
//! challenge; components this client cannot show yet get [`UnsupportedStage`].

mod access_denied;
mod authenticator_email;
mod authenticator_sms;
mod authenticator_static;
mod authenticator_totp;
mod authenticator_validate;
mod authenticator_webauthn;
mod captcha;
mod consent;
mod email;
mod flow_error;
mod identification;
mod otp_code;
mod password;
mod prompt;
mod redirect;
mod unsupported;
mod user_login;
mod webauthn_prompt;

use leptos::prelude::*;

pub use access_denied::AccessDeniedStage;
pub use authenticator_email::AuthenticatorEmailStage;
pub use authenticator_sms::AuthenticatorSmsStage;
pub use authenticator_static::AuthenticatorStaticStage;
pub use authenticator_totp::AuthenticatorTotpStage;
pub use authenticator_validate::AuthenticatorValidateStage;
pub use authenticator_webauthn::AuthenticatorWebauthnStage;
pub use captcha::CaptchaStage;
pub use consent::ConsentStage;
pub use email::EmailStage;
pub use flow_error::FlowErrorStage;
pub use identification::IdentificationStage;
pub use password::PasswordStage;
pub use prompt::{prompt_form_response, PromptStage, PROMPT_TYPES_FIELD};
pub use redirect::RedirectStage;
pub use unsupported::UnsupportedStage;
pub use user_login::UserLoginStage;

use super::flow::FlowState;
use super::form::StageCx;
use crate::protocol::{Challenge, ChallengeKind};

/// The view of one challenge.
pub fn render(challenge: Challenge, flow: FlowState) -> AnyView {
    let component = challenge.component();
    let stage = StageCx {
        flow,
        errors: challenge.response_errors.unwrap_or_default(),
        flow_info: challenge.flow_info,
    };
    match challenge.kind {
        ChallengeKind::Identification(c) => {
            view! { <IdentificationStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::Password(c) => view! { <PasswordStage challenge=c stage/> }.into_any(),
        ChallengeKind::Prompt(c) => view! { <PromptStage challenge=c stage/> }.into_any(),
        ChallengeKind::AccessDenied(c) => {
            view! { <AccessDeniedStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::FlowError(c) => view! { <FlowErrorStage challenge=c stage/> }.into_any(),
        ChallengeKind::UserLogin(c) => view! { <UserLoginStage challenge=c stage/> }.into_any(),
        ChallengeKind::Redirect(c) => view! { <RedirectStage challenge=c stage/> }.into_any(),
        ChallengeKind::AuthenticatorTotp(c) => {
            view! { <AuthenticatorTotpStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::AuthenticatorStatic(c) => {
            view! { <AuthenticatorStaticStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::AuthenticatorValidate(c) => {
            view! { <AuthenticatorValidateStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::AuthenticatorWebauthn(c) => {
            view! { <AuthenticatorWebauthnStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::Consent(c) => view! { <ConsentStage challenge=c stage/> }.into_any(),
        ChallengeKind::Email(c) => view! { <EmailStage challenge=c stage/> }.into_any(),
        ChallengeKind::AuthenticatorEmail(c) => {
            view! { <AuthenticatorEmailStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::AuthenticatorSms(c) => {
            view! { <AuthenticatorSmsStage challenge=c stage/> }.into_any()
        }
        ChallengeKind::Captcha(c) => view! { <CaptchaStage challenge=c stage/> }.into_any(),
        _ => view! { <UnsupportedStage component stage/> }.into_any(),
    }
}
