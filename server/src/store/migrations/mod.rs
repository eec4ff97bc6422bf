//! Schema migrations, run automatically at start-up. Never edit a released migration: add one.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_mfa_devices;
mod m0003_blueprint_models;
mod m0007_verify;
mod m0008_email_devices;
mod m0009_user_consent;
mod m0010_flow_versions;
mod m0011_sms_devices;

pub struct Migrator;

/// A table or column name.
fn name(s: &str) -> Alias {
    Alias::new(s)
}

/// `table.column` references `to_table.to_column`, named `fk_<table>_<column>`.
fn foreign_key(
    table: &str,
    column: &str,
    to_table: &str,
    to_column: &str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(name(table), name(column))
        .to(name(to_table), name(to_column))
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_mfa_devices::Migration),
            Box::new(m0003_blueprint_models::Migration),
            Box::new(m0007_verify::Migration),
            Box::new(m0008_email_devices::Migration),
            Box::new(m0009_user_consent::Migration),
            Box::new(m0010_flow_versions::Migration),
            Box::new(m0011_sms_devices::Migration),
        ]
    }
}
