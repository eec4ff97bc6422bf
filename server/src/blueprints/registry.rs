//! The one table of which authentik models keyflow understands and where each one is stored.
//! A model not listed here (sources, providers, brands, rbac, ...) is skipped with a note.

use chrono::{DateTime, Utc};

use super::models::{
    flows::{BindingStore, FlowStore},
    identity::{GroupStore, UserStore},
    invitations::InvitationStore,
    policies::{PolicyBindingStore, PolicyStore},
    prompts::PromptStore,
    stages::StageStore,
    ModelStore,
};
use crate::policies::BLUEPRINT_MODELS as POLICY_MODELS;

pub const FLOW: &str = "authentik_flows.flow";
pub const FLOW_STAGE_BINDING: &str = "authentik_flows.flowstagebinding";
pub const PROMPT: &str = "authentik_stages_prompt.prompt";
pub const POLICY_BINDING: &str = "authentik_policies.policybinding";
pub const USER: &str = "authentik_core.user";
pub const GROUP: &str = "authentik_core.group";
pub const INVITATION: &str = "authentik_stages_invitation.invitation";
pub const META_APPLY_BLUEPRINT: &str = "authentik_blueprints.metaapplyblueprint";

/// authentik's stage models and the [`crate::stages::StageConfig`] kind each maps to.
pub const STAGE_MODELS: &[(&str, &str)] = &[
    (
        "authentik_stages_identification.identificationstage",
        "identification",
    ),
    ("authentik_stages_password.passwordstage", "password"),
    (
        "authentik_stages_authenticator_totp.authenticatortotpstage",
        "authenticator_totp",
    ),
    (
        "authentik_stages_authenticator_static.authenticatorstaticstage",
        "authenticator_static",
    ),
    (
        "authentik_stages_authenticator_validate.authenticatorvalidatestage",
        "authenticator_validate",
    ),
    (
        "authentik_stages_authenticator_webauthn.authenticatorwebauthnstage",
        "authenticator_webauthn",
    ),
    (
        "authentik_stages_authenticator_duo.authenticatorduostage",
        "authenticator_duo",
    ),
    (
        "authentik_stages_authenticator_sms.authenticatorsmsstage",
        "authenticator_sms",
    ),
    (
        "authentik_stages_authenticator_email.authenticatoremailstage",
        "authenticator_email",
    ),
    ("authentik_stages_captcha.captchastage", "captcha"),
    ("authentik_stages_deny.denystage", "deny"),
    ("authentik_stages_email.emailstage", "email"),
    ("authentik_stages_invitation.invitationstage", "invitation"),
    ("authentik_stages_prompt.promptstage", "prompt"),
    ("authentik_stages_user_login.userloginstage", "user_login"),
    (
        "authentik_stages_user_logout.userlogoutstage",
        "user_logout",
    ),
    (
        "authentik_stages_user_delete.userdeletestage",
        "user_delete",
    ),
    ("authentik_stages_user_write.userwritestage", "user_write"),
    ("authentik_stages_consent.consentstage", "consent"),
    ("authentik_stages_redirect.redirectstage", "redirect"),
];

/// A model keyflow understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Flow,
    FlowStageBinding,
    /// A stage of this `StageConfig` kind.
    Stage(&'static str),
    Prompt,
    /// A policy of this `PolicyConfig` kind.
    Policy(&'static str),
    PolicyBinding,
    User,
    Group,
    Invitation,
    /// Applies another blueprint first.
    MetaApplyBlueprint,
}

pub fn lookup(model: &str) -> Option<Model> {
    let fixed = match model {
        FLOW => Some(Model::Flow),
        FLOW_STAGE_BINDING => Some(Model::FlowStageBinding),
        PROMPT => Some(Model::Prompt),
        POLICY_BINDING => Some(Model::PolicyBinding),
        USER => Some(Model::User),
        GROUP => Some(Model::Group),
        INVITATION => Some(Model::Invitation),
        META_APPLY_BLUEPRINT => Some(Model::MetaApplyBlueprint),
        _ => None,
    };
    fixed
        .or_else(|| {
            STAGE_MODELS
                .iter()
                .find(|(name, _)| *name == model)
                .map(|(_, kind)| Model::Stage(kind))
        })
        .or_else(|| {
            POLICY_MODELS
                .iter()
                .find(|(name, _)| *name == model)
                .map(|(_, kind)| Model::Policy(kind))
        })
}

/// The authentik model name of a stage kind (for exports).
pub fn stage_model(kind: &str) -> Option<&'static str> {
    STAGE_MODELS
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(name, _)| *name)
}

/// The authentik model name of a policy kind (for exports).
pub fn policy_model(kind: &str) -> Option<&'static str> {
    POLICY_MODELS
        .iter()
        .find(|(_, k)| *k == kind)
        .map(|(name, _)| *name)
}

/// Where a model's objects live (`None` for `metaapplyblueprint`, which stores nothing).
pub fn store(model: Model, now: DateTime<Utc>) -> Option<Box<dyn ModelStore>> {
    Some(match model {
        Model::Flow => Box::new(FlowStore),
        Model::FlowStageBinding => Box::new(BindingStore),
        Model::Stage(kind) => Box::new(StageStore { kind }),
        Model::Prompt => Box::new(PromptStore),
        Model::Policy(kind) => Box::new(PolicyStore { kind }),
        Model::PolicyBinding => Box::new(PolicyBindingStore),
        Model::User => Box::new(UserStore { now }),
        Model::Group => Box::new(GroupStore),
        Model::Invitation => Box::new(InvitationStore),
        Model::MetaApplyBlueprint => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_model_names_a_distinct_kind() {
        let mut kinds: Vec<_> = STAGE_MODELS.iter().map(|(_, k)| *k).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), STAGE_MODELS.len());
        assert_eq!(
            lookup("authentik_stages_password.passwordstage"),
            Some(Model::Stage("password"))
        );
        assert_eq!(lookup("authentik_sources_oauth.oauthsource"), None);
    }
}
