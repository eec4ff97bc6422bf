//! Flow tokens (spec §1.5: a frozen plan behind a link, e.g. the email stage's verification
//! link) and the email stage's send attempts (its per-address rate limit, kept in the database
//! so that it holds across keyflow instances).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use super::{foreign_key, name};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(name("flow_tokens"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("identifier")))
                // sha256 of the key (128+ random bits, so a fast hash is enough); the key itself
                // only travels in the link.
                .col(string_uniq(name("key_hash")))
                .col(integer(name("user_id")))
                .col(uuid(name("flow_id")))
                // The serialised `engine::FlowPlan` the link restores.
                .col(json(name("plan")))
                .col(timestamp_with_time_zone(name("expires")))
                .col(boolean(name("revoke_on_execution")))
                .col(timestamp_with_time_zone(name("created_at")))
                .foreign_key(&mut foreign_key(
                    "flow_tokens",
                    "user_id",
                    "users",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut foreign_key(
                    "flow_tokens",
                    "flow_id",
                    "flows",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(name("email_send_attempts"))
                .col(pk_uuid(name("id")))
                // sha256 of the lower-cased address: who was mailed is not kept in clear.
                .col(string(name("address_hash")))
                .col(timestamp_with_time_zone(name("sent_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_email_send_attempts_address_hash")
                .table(name("email_send_attempts"))
                .col(name("address_hash"))
                .col(name("sent_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["email_send_attempts", "flow_tokens"] {
            m.drop_table(Table::drop().table(name(table)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
