//! Flow versions (issue #14): every saved change to a flow, its bindings or their policies
//! keeps the flow's blueprint export, so an admin can compare versions and roll back.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use super::{foreign_key, name};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(name("flow_versions"))
                .col(pk_uuid(name("id")))
                .col(uuid(name("flow_id")))
                // 1, 2, 3, … per flow.
                .col(integer(name("number")))
                // The flow's blueprint export (YAML) after the change.
                .col(text(name("snapshot")))
                // Who saved it (null: keyflow itself, e.g. a blueprint applied at start-up). No
                // foreign key, as for events: the history outlives a deleted account, and
                // `author_name` keeps who it was.
                .col(integer_null(name("author_id")))
                .col(string(name("author_name")))
                .col(string(name("summary")))
                .col(timestamp_with_time_zone(name("created_at")))
                .foreign_key(&mut foreign_key(
                    "flow_versions",
                    "flow_id",
                    "flows",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_flow_versions_flow_number")
                .table(name("flow_versions"))
                .col(name("flow_id"))
                .col(name("number"))
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(name("flow_versions")).to_owned())
            .await
    }
}
