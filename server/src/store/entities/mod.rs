//! sea-orm entities, one module per table. Schema changes go into a new migration.

pub mod email_device;
pub mod email_send_attempt;
pub mod event;
pub mod flow;
pub mod flow_plan;
pub mod flow_stage_binding;
pub mod flow_token;
pub mod flow_version;
pub mod group;
pub mod group_member;
pub mod invitation;
pub mod policy;
pub mod policy_binding;
pub mod prompt;
pub mod reputation;
pub mod session;
pub mod setting;
pub mod sms_device;
pub mod stage;
pub mod static_device;
pub mod static_token;
pub mod token;
pub mod totp_device;
pub mod user;
pub mod user_consent;
pub mod webauthn_device;
