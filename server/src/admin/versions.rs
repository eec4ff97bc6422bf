//! Flow versions (issue #14 "Versions"): after every saved change to a flow, its stage bindings
//! or their policy bindings, the flow's blueprint export is kept as a numbered version with its
//! author, time and a summary. Versions can be listed, compared (a line-based diff of the two
//! exports) and rolled back to (the old export is applied; that is itself a new version).
//! Blueprint applies record versions too (author `keyflow`, see [`record_all`]).

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::error::NON_FIELD_ERRORS;
use super::{Actor, AdminError};
use crate::blueprints::{self, ApplyOptions, ExportError, Source};
use crate::store::{begin_write, flow, flow_stage_binding, flow_version, policy_binding};

/// The author name of versions keyflow records itself (blueprints applied at start-up or by
/// the CLI).
pub const SYSTEM_AUTHOR: &str = "keyflow";

fn export_error(error: ExportError) -> AdminError {
    match error {
        ExportError::Database(error) => AdminError::Database(error),
        ExportError::FlowNotFound(_) => AdminError::NotFound,
        other => AdminError::field(NON_FIELD_ERRORS, other.to_string()),
    }
}

async fn latest(
    db: &DatabaseConnection,
    flow_id: Uuid,
) -> Result<Option<flow_version::Model>, AdminError> {
    Ok(flow_version::Entity::find()
        .filter(flow_version::Column::FlowId.eq(flow_id))
        .order_by_desc(flow_version::Column::Number)
        .one(db)
        .await?)
}

/// Records the flow's current export as a new version, unless it equals the latest version
/// (`force`: record anyway, e.g. for a rollback). `author` `None` is keyflow itself.
pub async fn record_version(
    db: &DatabaseConnection,
    flow_id: Uuid,
    author: Option<&Actor>,
    summary: &str,
    force: bool,
) -> Result<Option<flow_version::Model>, AdminError> {
    let Some(flow) = flow::Entity::find_by_id(flow_id).one(db).await? else {
        return Ok(None);
    };
    let snapshot = blueprints::export_flow(db, &flow.slug)
        .await
        .map_err(export_error)?;
    let previous = latest(db, flow_id).await?;
    if !force && previous.as_ref().is_some_and(|v| v.snapshot == snapshot) {
        return Ok(None);
    }
    let row = flow_version::ActiveModel {
        id: Set(Uuid::new_v4()),
        flow_id: Set(flow_id),
        number: Set(previous.map_or(1, |v| v.number + 1)),
        snapshot: Set(snapshot),
        author_id: Set(author.map(|a| a.user_id)),
        author_name: Set(author.map_or_else(|| SYSTEM_AUTHOR.to_owned(), |a| a.username.clone())),
        summary: Set(summary.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await?;
    Ok(Some(row))
}

/// Records a version of every flow whose export changed (after a blueprint apply, which may
/// touch any flow).
pub async fn record_all(
    db: &DatabaseConnection,
    author: Option<&Actor>,
    summary: &str,
) -> Result<(), AdminError> {
    for flow in flow::Entity::find().all(db).await? {
        record_version(db, flow.id, author, summary, false).await?;
    }
    Ok(())
}

/// Applies blueprints (see [`blueprints::apply`]) and, when that changed anything, records a
/// version of every flow whose export changed. Every apply path (API, CLI, start-up) goes
/// through here; a failure to record is logged, not returned (the apply has committed).
pub async fn apply_and_record(
    db: &DatabaseConnection,
    sources: &[Source],
    options: &ApplyOptions,
    author: Option<&Actor>,
) -> Result<blueprints::ApplyReport, blueprints::ApplyError> {
    let report = blueprints::apply(db, sources, options).await?;
    if !options.dry_run && report.changes > 0 {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let summary = format!("Blueprint applied ({})", names.join(", "));
        if let Err(error) = record_all(db, author, &summary).await {
            tracing::warn!(%error, "could not record flow versions after a blueprint apply");
        }
        if let Some(actor) = author {
            let context = serde_json::json!({
                "task": "blueprint_apply",
                "blueprints": names,
                "changes": report.changes,
            });
            let recorded = super::record(
                db,
                actor,
                crate::events::action::SYSTEM_TASK_EXECUTION,
                context,
            );
            if let Err(error) = recorded.await {
                tracing::warn!(%error, "could not record the blueprint apply event");
            }
        }
    }
    Ok(report)
}

/// Applies (or, with `dry_run`, previews) a blueprint an administrator sent (the REST apply and
/// the admin UI's upload): as [`apply_and_record`], with `!Env` refused, since the server's
/// environment holds secrets.
pub async fn apply_upload(
    db: &DatabaseConnection,
    actor: &Actor,
    source_name: &str,
    content: String,
    dry_run: bool,
) -> Result<blueprints::ApplyReport, blueprints::ApplyError> {
    let options = ApplyOptions {
        dry_run,
        allow_env: false,
        now: Utc::now(),
    };
    let source = Source {
        name: source_name.to_owned(),
        content,
    };
    apply_and_record(db, &[source], &options, Some(actor)).await
}

/// The flow a policy-binding target belongs to: the flow itself, or a stage binding's flow.
pub async fn flow_of_target(
    db: &DatabaseConnection,
    target: Uuid,
) -> Result<Option<Uuid>, AdminError> {
    if flow::Entity::find_by_id(target).one(db).await?.is_some() {
        return Ok(Some(target));
    }
    Ok(flow_stage_binding::Entity::find_by_id(target)
        .one(db)
        .await?
        .map(|b| b.flow_id))
}

async fn flow_by_slug(db: &DatabaseConnection, slug: &str) -> Result<flow::Model, AdminError> {
    flow::Entity::find()
        .filter(flow::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// The versions of the flow `slug`, newest first.
pub async fn list_versions(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
) -> Result<Vec<flow_version::Model>, AdminError> {
    actor.ensure_superuser()?;
    let flow = flow_by_slug(db, slug).await?;
    Ok(flow_version::Entity::find()
        .filter(flow_version::Column::FlowId.eq(flow.id))
        .order_by_desc(flow_version::Column::Number)
        .all(db)
        .await?)
}

/// Version `number` of the flow `slug`.
pub async fn get_version(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
    number: i32,
) -> Result<flow_version::Model, AdminError> {
    actor.ensure_superuser()?;
    let flow = flow_by_slug(db, slug).await?;
    flow_version::Entity::find()
        .filter(flow_version::Column::FlowId.eq(flow.id))
        .filter(flow_version::Column::Number.eq(number))
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// A readable line diff of `old` to `new`: unchanged lines start with two spaces, removed ones
/// with `- `, added ones with `+ ` (longest common subsequence, so moves show as -/+ pairs).
pub fn diff_lines(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// The diff from version `from` to version `to` of the flow `slug`.
pub async fn diff_versions(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
    from: i32,
    to: i32,
) -> Result<String, AdminError> {
    let old = get_version(db, actor, slug, from).await?;
    let new = get_version(db, actor, slug, to).await?;
    Ok(diff_lines(&old.snapshot, &new.snapshot))
}

/// Puts the flow `slug` back as it was in version `number`: its stage bindings and policy
/// bindings are replaced by the version's, and the flow's, stages' and policies' attributes
/// are set to the version's (secrets, never exported, keep their current values). The
/// snapshot is checked by a dry run first, so a version that no longer applies (a stage it
/// names was deleted and cannot be recreated) changes nothing. Records and returns the new
/// version.
pub async fn rollback(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
    number: i32,
) -> Result<flow_version::Model, AdminError> {
    let version = get_version(db, actor, slug, number).await?;
    let flow = flow_by_slug(db, slug).await?;
    // The export identifies the flow by slug: a version saved under another slug would apply
    // to (or create) that other flow.
    let same_slug = |line: &str| {
        line.trim()
            .strip_prefix("slug: ")
            .is_some_and(|value| value.trim_matches(['\'', '"']) == slug)
    };
    if !version.snapshot.lines().any(same_slug) {
        return Err(AdminError::field(
            NON_FIELD_ERRORS,
            format!(
                "Version {number} was saved under another slug; give the flow that slug again \
                 before rolling back to it."
            ),
        ));
    }
    let source = Source {
        name: format!("{slug} version {number}"),
        content: version.snapshot.clone(),
    };
    let mut options = ApplyOptions {
        dry_run: true,
        allow_env: false,
        now: Utc::now(),
    };
    blueprints::apply(db, std::slice::from_ref(&source), &options)
        .await
        .map_err(|e| AdminError::field(NON_FIELD_ERRORS, e.to_string()))?;
    // The version's bindings replace the current ones (a blueprint only adds and updates).
    let tx = begin_write(db).await?;
    let bindings: Vec<Uuid> = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(flow.id))
        .all(&tx)
        .await?
        .into_iter()
        .map(|b| b.id)
        .collect();
    let mut targets = bindings.clone();
    targets.push(flow.id);
    policy_binding::Entity::delete_many()
        .filter(policy_binding::Column::TargetId.is_in(targets))
        .exec(&tx)
        .await?;
    flow_stage_binding::Entity::delete_many()
        .filter(flow_stage_binding::Column::FlowId.eq(flow.id))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    options.dry_run = false;
    blueprints::apply(db, &[source], &options)
        .await
        .map_err(|e| AdminError::field(NON_FIELD_ERRORS, e.to_string()))?;
    let flow_id = flow_by_slug(db, slug).await.map_or(flow.id, |f| f.id);
    record_version(
        db,
        flow_id,
        Some(actor),
        &format!("Rolled back to version {number}"),
        true,
    )
    .await?
    .ok_or(AdminError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_marks_removed_added_and_kept_lines() {
        let old = "a\nb\nc\n";
        let new = "a\nc\nd\n";
        assert_eq!(diff_lines(old, new), "  a\n- b\n  c\n+ d\n");
        assert_eq!(diff_lines("x\n", "x\n"), "  x\n");
        assert_eq!(diff_lines("", "y"), "+ y\n");
        // A swap shows as one line removed and added again elsewhere.
        let swapped = diff_lines("order: 10\nstage: a\n", "stage: a\norder: 10\n");
        assert_eq!(swapped.matches("- ").count(), 1, "{swapped}");
        assert_eq!(swapped.matches("+ ").count(), 1, "{swapped}");
    }
}
