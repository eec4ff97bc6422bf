//! MFA devices: TOTP, static (recovery) tokens and WebAuthn credentials. Every device has the
//! common `user_id`, `name`, `confirmed`, `created`, `last_used` columns so the "all
//! authenticators" list and authenticator validation can treat them alike. Code-based devices
//! also carry django-otp style throttling (consecutive failures and the time of the last one).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use super::{foreign_key, name};

fn user_fk(table: &str) -> ForeignKeyCreateStatement {
    foreign_key(table, "user_id", "users", "id", ForeignKeyAction::Cascade)
}

/// The columns every device kind shares.
fn device_table(table: &str) -> TableCreateStatement {
    Table::create()
        .table(name(table))
        .col(pk_auto(name("id")))
        .col(integer(name("user_id")))
        .col(string(name("name")))
        .col(boolean(name("confirmed")))
        .col(timestamp_with_time_zone(name("created")))
        .col(timestamp_with_time_zone_null(name("last_used")))
        .foreign_key(&mut user_fk(table))
        .to_owned()
}

async fn index_user(m: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    m.create_index(
        Index::create()
            .name(format!("idx_{table}_user_id"))
            .table(name(table))
            .col(name("user_id"))
            .to_owned(),
    )
    .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            device_table("totp_devices")
                // nonce ‖ ChaCha20-Poly1305 ciphertext of the raw key, base64; see mfa::crypto.
                .col(text(name("secret")))
                .col(integer(name("digits")))
                .col(string(name("algorithm")))
                .col(integer(name("period")))
                // The last time step a code was accepted for (-1: never): replay protection.
                .col(big_integer(name("last_t")))
                .col(integer(name("throttling_failure_count")))
                .col(timestamp_with_time_zone_null(name(
                    "throttling_failure_timestamp",
                )))
                .to_owned(),
        )
        .await?;
        index_user(m, "totp_devices").await?;

        m.create_table(
            device_table("static_devices")
                .col(integer(name("throttling_failure_count")))
                .col(timestamp_with_time_zone_null(name(
                    "throttling_failure_timestamp",
                )))
                .to_owned(),
        )
        .await?;
        index_user(m, "static_devices").await?;
        m.create_table(
            Table::create()
                .table(name("static_tokens"))
                .col(pk_auto(name("id")))
                .col(integer(name("device_id")))
                // Keyed hash (HMAC-SHA256) of the token; see mfa::static_tokens.
                .col(string(name("token_hash")))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_static_tokens_device_id")
                        .from(name("static_tokens"), name("device_id"))
                        .to(name("static_devices"), name("id"))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_static_tokens_device_id")
                .table(name("static_tokens"))
                .col(name("device_id"))
                .to_owned(),
        )
        .await?;

        // Filled by the WebAuthn stages (mfa::webauthn*).
        m.create_table(
            device_table("webauthn_devices")
                .col(string_uniq(name("credential_id")))
                // The serialized credential (passkey JSON), public key included.
                .col(text(name("public_key")))
                .col(big_integer(name("sign_count")))
                .col(boolean(name("backup_eligible")))
                .col(boolean(name("backup_state")))
                .col(string(name("aaguid")))
                // The relying party (host) the credential was made for, and the SHA-256 of its
                // attestation certificate: a second registration of the same authenticator is
                // refused by it when `prevent_duplicate_devices` is on.
                .col(string(name("rp_id")))
                .col(string_null(name("attestation_certificate_fingerprint")))
                .to_owned(),
        )
        .await?;
        index_user(m, "webauthn_devices").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "webauthn_devices",
            "static_tokens",
            "static_devices",
            "totp_devices",
        ] {
            m.drop_table(Table::drop().table(name(table)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
