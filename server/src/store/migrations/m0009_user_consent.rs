//! Consents a person gave at a consent stage in `permanent` or `expiring` mode (authentik's
//! `UserConsent`). authentik keys a consent by user and application; keyflow has no
//! applications, so the key is the user, the flow and the consent stage within it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use super::{foreign_key, name};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(name("user_consents"))
                .col(pk_uuid(name("id")))
                .col(integer(name("user_id")))
                .col(uuid(name("flow_id")))
                .col(uuid(name("stage_id")))
                // The permission ids consented to, space-separated (authentik's format).
                .col(text(name("permissions")))
                // NULL: permanent.
                .col(timestamp_with_time_zone_null(name("expires")))
                .col(timestamp_with_time_zone(name("created_at")))
                .foreign_key(&mut foreign_key(
                    "user_consents",
                    "user_id",
                    "users",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut foreign_key(
                    "user_consents",
                    "flow_id",
                    "flows",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut foreign_key(
                    "user_consents",
                    "stage_id",
                    "stages",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        // One consent per key: giving it again (after expiry) replaces the row (upsert).
        m.create_index(
            Index::create()
                .name("idx_user_consents_key")
                .table(name("user_consents"))
                .col(name("user_id"))
                .col(name("flow_id"))
                .col(name("stage_id"))
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_user_consents_expires")
                .table(name("user_consents"))
                .col(name("expires"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(name("user_consents"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
