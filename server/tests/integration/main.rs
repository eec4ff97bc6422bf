//! keyflow's integration tests, one module per area, in one test binary: each binary links the
//! whole server (~100+ MB with line tables), so twenty of them filled CI's disk and spent minutes
//! linking. Run one area with `cargo test -p keyflow --test integration <module>::`.

#[macro_use]
mod common;

mod admin_api;
mod admin_directory;
mod admin_flows_api;
mod admin_user_security;
mod blueprint_flows;
mod blueprints_api;
mod captcha_flows;
mod consent_flows;
mod email_flows;
mod email_mfa;
mod enrollment;
mod executor_protocol;
mod flow_tools;
mod mail_delivery;
mod mfa_flows;
mod password_attempts;
mod password_load;
mod policies;
mod prompt_flows;
mod sandbox;
mod sms_flows;
mod static_files;
mod webauthn_flows;
