//! SMS authenticator devices (spec §4.8): a phone number that receives one-time codes.
//! Same shared device columns as the other kinds (`user_id`, `name`, `confirmed`, `created`,
//! `last_used`), the set-up stage it belongs to, the pending code (only its keyed hash, with
//! its expiry), and django-otp style throttling like TOTP devices.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use super::{foreign_key, name};

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(name("sms_devices"))
                .col(pk_auto(name("id")))
                .col(integer(name("user_id")))
                // The set-up stage: its gateway sends the codes; numbers are unique per stage.
                .col(uuid(name("stage_id")))
                .col(string(name("name")))
                // E.164 (`+` and digits), or `hash:<sha256 hex>` once a verify-only stage confirmed it.
                .col(string(name("phone_number")))
                .col(boolean(name("confirmed")))
                .col(timestamp_with_time_zone(name("created")))
                .col(timestamp_with_time_zone_null(name("last_used")))
                // HMAC-SHA256 of the pending code (see mfa::sent_codes); NULL once used or never sent.
                .col(string_null(name("token_hash")))
                .col(timestamp_with_time_zone_null(name("token_expiry")))
                .col(integer(name("throttling_failure_count")))
                .col(timestamp_with_time_zone_null(name(
                    "throttling_failure_timestamp",
                )))
                .foreign_key(&mut foreign_key(
                    "sms_devices",
                    "user_id",
                    "users",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .foreign_key(&mut foreign_key(
                    "sms_devices",
                    "stage_id",
                    "stages",
                    "id",
                    ForeignKeyAction::Cascade,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sms_devices_user_id")
                .table(name("sms_devices"))
                .col(name("user_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sms_devices_stage_id_phone_number")
                .table(name("sms_devices"))
                .col(name("stage_id"))
                .col(name("phone_number"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(
            Table::drop()
                .table(name("sms_devices"))
                .if_exists()
                .to_owned(),
        )
        .await
    }
}
