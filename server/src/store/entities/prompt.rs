//! A prompt field (authentik's `authentik_stages_prompt.prompt`), shown by prompt stages.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prompts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    /// The key in `prompt_data` (dotted keys allowed).
    pub field_key: String,
    pub label: String,
    /// authentik's prompt type (`text`, `password`, `ak-locale`, ...).
    #[sea_orm(column_name = "type")]
    pub kind: String,
    pub required: bool,
    pub placeholder: String,
    pub initial_value: String,
    pub sub_text: String,
    pub order: i32,
    pub placeholder_expression: bool,
    pub initial_value_expression: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
