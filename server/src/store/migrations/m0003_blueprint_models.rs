//! Tables for the blueprint models keyflow stores beyond flows and stages: prompt fields (used
//! by prompt stages) and invitations (used by invitation stages).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

use super::{foreign_key, name};

fn fk_set_null(
    table: &str,
    column: &str,
    to_table: &str,
    to_column: &str,
) -> ForeignKeyCreateStatement {
    foreign_key(
        table,
        column,
        to_table,
        to_column,
        ForeignKeyAction::SetNull,
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(name("prompts"))
                .col(pk_uuid(name("id")))
                .col(string_uniq(name("name")))
                .col(string(name("field_key")))
                .col(string(name("label")))
                .col(string(name("type")))
                .col(boolean(name("required")))
                .col(text(name("placeholder")))
                .col(text(name("initial_value")))
                .col(text(name("sub_text")))
                .col(integer(name("order")))
                .col(boolean(name("placeholder_expression")))
                .col(boolean(name("initial_value_expression")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(name("invitations"))
                // The id is the invitation token.
                .col(pk_uuid(name("id")))
                .col(string(name("name")))
                .col(timestamp_with_time_zone_null(name("expires")))
                .col(boolean(name("expiring")))
                .col(uuid_null(name("flow_id")))
                .col(boolean(name("single_use")))
                .col(json(name("fixed_data")))
                .col(integer_null(name("created_by_id")))
                .foreign_key(&mut fk_set_null("invitations", "flow_id", "flows", "id"))
                .foreign_key(&mut fk_set_null(
                    "invitations",
                    "created_by_id",
                    "users",
                    "id",
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in ["invitations", "prompts"] {
            m.drop_table(Table::drop().table(name(table)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
