//! Blueprints: flows as data, in authentik's YAML format. A blueprint lists model entries
//! (flows, stages, bindings, policies, prompts, users, groups, invitations) that are created,
//! updated or deleted so the database matches it; custom tags such as `!KeyOf` link entries.
//!
//! - [`format`] reads the file; [`tags`] evaluates the `!Tags`;
//! - [`registry`] is the one table of supported models, [`models`] how each is stored;
//! - [`apply`] applies files atomically and idempotently (with a dry run), [`export`] writes a
//!   flow back out, [`embedded`] holds keyflow's default flows, applied at start-up;
//! - [`cli`] is `keyflow blueprint …`.

pub mod apply;
pub mod cli;
pub mod embedded;
pub mod error;
pub mod export;
pub mod format;
pub mod models;
pub mod registry;
pub mod report;
pub mod tags;

#[cfg(test)]
mod tests;

pub use apply::{apply, ApplyOptions, Source};
pub use error::{ApplyError, BlueprintError};
pub use export::{export_flow, ExportError};
pub use report::{ApplyReport, Outcome};
