//! The admin service layer (issue #14): what the admin UI's server functions and the admin REST
//! paths call, so neither holds a second copy of the rules.

pub mod diagram;
pub mod groups;
pub mod lint;
pub mod simulate;
pub mod users;
