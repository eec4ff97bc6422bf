//! User write: creates or updates the pending user from `prompt_data`. The configuration is
//! here; the stage itself is not implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserCreationMode {
    NeverCreate,
    #[default]
    CreateWhenRequired,
    AlwaysCreate,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    Internal,
    #[default]
    External,
    ServiceAccount,
    InternalServiceAccount,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserWriteStage {
    pub user_creation_mode: UserCreationMode,
    pub create_users_as_inactive: bool,
    /// A group new users are added to.
    pub create_users_group: Option<Uuid>,
    pub user_type: UserType,
    /// Empty means the default path `users`; not templated.
    pub user_path_template: String,
}

#[async_trait::async_trait]
impl Stage for UserWriteStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("user_write")
    }
}
