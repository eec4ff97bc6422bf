//! keyflow: an identity flow engine that speaks authentik's flow executor protocol.
//!
//! - [`engine`]: planner, executor, the `Stage` trait and the policy engine (no HTTP inside);
//! - [`stages`]: one module per stage kind;
//! - [`sandbox`]: runs untrusted Python (expression policies) in worker subprocesses;
//! - [`store`]: sea-orm entities and migrations (SQLite by default, PostgreSQL for scale-out);
//! - [`http`]: the axum routes, the only place HTTP exists;
//! - [`admin`]: the admin service layer (flow diagram, simulator, linter).
// The admin pages' view types are deep; computing their layouts needs more than 128.
#![recursion_limit = "256"]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod admin;
pub mod auth;
pub mod blueprints;
pub mod bootstrap;
pub mod config;
pub mod consents;
pub mod duration;
pub mod engine;
pub mod events;
pub mod flow_tokens;
pub mod flows;
pub mod housekeeping;
pub mod http;
pub mod mail;
pub mod memory;
pub mod mfa;
pub mod outbound;
pub mod policies;
pub mod reputation;
pub mod sandbox;
pub mod server;
pub mod sessions;
pub mod stages;
pub mod store;
pub mod users;
