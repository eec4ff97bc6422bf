//! Schema migrations, run automatically at start-up. Never edit a released migration: add one.

use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_mfa_devices;
mod m0003_blueprint_models;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_mfa_devices::Migration),
            Box::new(m0003_blueprint_models::Migration),
        ]
    }
}
