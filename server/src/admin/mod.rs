pub mod groups;
pub mod users;
