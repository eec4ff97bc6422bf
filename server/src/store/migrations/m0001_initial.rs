//! The foundation schema: users, groups, flows, stages, bindings, policies, sessions, plans,
//! events, tokens, reputation and install settings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use super::{foreign_key, name};

fn fk(table: &str, column: &str, to_table: &str, to_column: &str) -> ForeignKeyCreateStatement {
    foreign_key(
        table,
        column,
        to_table,
        to_column,
        ForeignKeyAction::Cascade,
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(name("users"))
                .col(pk_auto(name("id")))
                .col(uuid_uniq(name("uuid")))
                .col(string_len_uniq(name("username"), 150))
                .col(string(name("email")))
                .col(string(name("name")))
                .col(text(name("password")))
                .col(boolean(name("is_active")))
                .col(boolean(name("is_superuser")))
                .col(json(name("attributes")))
                .col(string(name("path")))
                .col(string(name("user_type")))
                .col(timestamp_with_time_zone_null(name("last_login")))
                .col(timestamp_with_time_zone(name("date_joined")))
                .col(timestamp_with_time_zone_null(name("password_change_date")))
                .to_owned(),
        )
        .await?;
        // Case-insensitive lookups (username / email "iexact") use lower(); index them.
        m.get_connection()
            .execute_unprepared("CREATE INDEX idx_users_username_lower ON users (lower(username))")
            .await?;
        m.get_connection()
            .execute_unprepared("CREATE INDEX idx_users_email_lower ON users (lower(email))")
            .await?;

        m.create_table(
            Table::create()
                .table(name("groups"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("name")))
                .col(boolean(name("is_superuser")))
                .col(uuid_null(name("parent_id")))
                .col(json(name("attributes")))
                .foreign_key(&mut fk("groups", "parent_id", "groups", "id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("group_members"))
                .col(uuid(name("group_id")))
                .col(integer(name("user_id")))
                .primary_key(Index::create().col(name("group_id")).col(name("user_id")))
                .foreign_key(&mut fk("group_members", "group_id", "groups", "id"))
                .foreign_key(&mut fk("group_members", "user_id", "users", "id"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(name("flows"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("slug")))
                .col(string(name("name")))
                .col(string(name("title")))
                .col(string(name("designation")))
                .col(string(name("authentication")))
                .col(string(name("policy_engine_mode")))
                .col(string(name("layout")))
                .col(string(name("denied_action")))
                .col(text(name("background")))
                .col(boolean(name("compatibility_mode")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("stages"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("name")))
                .col(string(name("kind")))
                .col(json(name("config")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("flow_stage_bindings"))
                .col(pk_uuid(name("id")))
                .col(uuid(name("flow_id")))
                .col(uuid(name("stage_id")))
                .col(integer(name("order")))
                .col(boolean(name("evaluate_on_plan")))
                .col(boolean(name("re_evaluate_policies")))
                .col(string(name("invalid_response_action")))
                .col(string(name("policy_engine_mode")))
                .foreign_key(&mut fk("flow_stage_bindings", "flow_id", "flows", "id"))
                .foreign_key(&mut fk("flow_stage_bindings", "stage_id", "stages", "id"))
                .index(
                    Index::create()
                        .name("uq_flow_stage_bindings")
                        .unique()
                        .col(name("flow_id"))
                        .col(name("stage_id"))
                        .col(name("order")),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(name("policies"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("name")))
                .col(string(name("kind")))
                .col(json(name("config")))
                .col(boolean(name("execution_logging")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("policy_bindings"))
                .col(pk_uuid(name("id")))
                .col(uuid(name("target_id")))
                .col(uuid_null(name("policy_id")))
                .col(uuid_null(name("group_id")))
                .col(integer_null(name("user_id")))
                .col(boolean(name("negate")))
                .col(boolean(name("enabled")))
                .col(integer(name("order")))
                .col(integer(name("timeout")))
                .col(boolean(name("failure_result")))
                .foreign_key(&mut fk("policy_bindings", "policy_id", "policies", "id"))
                .foreign_key(&mut fk("policy_bindings", "group_id", "groups", "id"))
                .foreign_key(&mut fk("policy_bindings", "user_id", "users", "id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_policy_bindings_target")
                .table(name("policy_bindings"))
                .col(name("target_id"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(name("sessions"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("token_hash")))
                .col(integer_null(name("user_id")))
                .col(string(name("csrf_token")))
                .col(timestamp_with_time_zone(name("created_at")))
                .col(timestamp_with_time_zone(name("last_seen_at")))
                .col(timestamp_with_time_zone(name("expires_at")))
                .col(boolean(name("persistent")))
                .col(string(name("last_ip")))
                .col(text(name("user_agent")))
                .foreign_key(&mut fk("sessions", "user_id", "users", "id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("flow_plans"))
                .col(pk_uuid(name("session_id")))
                .col(uuid(name("flow_id")))
                .col(json(name("plan")))
                .col(text(name("query")))
                .col(timestamp_with_time_zone(name("updated_at")))
                .col(timestamp_with_time_zone(name("expires_at")))
                .foreign_key(&mut fk("flow_plans", "session_id", "sessions", "id"))
                .foreign_key(&mut fk("flow_plans", "flow_id", "flows", "id"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(name("events"))
                .col(pk_uuid(name("id")))
                .col(string(name("action")))
                .col(integer_null(name("user_id")))
                .col(string(name("username")))
                .col(string(name("client_ip")))
                .col(json(name("context")))
                .col(timestamp_with_time_zone(name("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_events_created_at")
                .table(name("events"))
                .col(name("created_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(name("tokens"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("identifier")))
                .col(string(name("key_hash")))
                .col(integer(name("user_id")))
                .col(string(name("intent")))
                .col(timestamp_with_time_zone_null(name("expires")))
                .col(text(name("description")))
                .col(timestamp_with_time_zone(name("created_at")))
                .foreign_key(&mut fk("tokens", "user_id", "users", "id"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("reputations"))
                .col(pk_uuid(name("id")))
                .col(string(name("identifier")))
                .col(string(name("ip")))
                .col(integer(name("score")))
                .col(timestamp_with_time_zone(name("updated_at")))
                .index(
                    Index::create()
                        .name("uq_reputations_identifier_ip")
                        .unique()
                        .col(name("identifier"))
                        .col(name("ip")),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("settings"))
                .col(string(name("key")).primary_key())
                .col(text(name("value")))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "settings",
            "reputations",
            "tokens",
            "events",
            "flow_plans",
            "sessions",
            "policy_bindings",
            "policies",
            "flow_stage_bindings",
            "stages",
            "flows",
            "group_members",
            "groups",
            "users",
        ] {
            m.drop_table(Table::drop().table(name(table)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
