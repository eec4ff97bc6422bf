//! keyflow's shared crate: the executor protocol's wire types ([`protocol`]) and the Leptos UI
//! that renders one component per stage challenge. Compiled twice: with `ssr` into the server
//! (first render, no-JavaScript forms) and with `hydrate` into the browser's WASM.

pub mod admin;
pub mod protocol;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod ssr;

pub use ui::{shell, App};
