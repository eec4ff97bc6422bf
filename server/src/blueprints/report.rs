//! What an apply did (or, in a dry run, would do), entry by entry.

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated {
        fields: Vec<String>,
    },
    Unchanged,
    Deleted,
    Skipped {
        reason: String,
    },
    /// A `metaapplyblueprint` entry: that blueprint's own report comes before this one.
    Applied {
        blueprint: String,
    },
}

impl Outcome {
    /// Whether the database changed (or would have).
    pub fn is_change(&self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Updated { .. } | Outcome::Deleted
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EntryReport {
    /// `entries[3]`.
    pub entry: String,
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub identifiers: Value,
    #[serde(flatten)]
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BlueprintReport {
    pub source: String,
    pub name: String,
    pub entries: Vec<EntryReport>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ApplyReport {
    pub dry_run: bool,
    /// Entries created, updated or deleted.
    pub changes: usize,
    pub blueprints: Vec<BlueprintReport>,
}

impl ApplyReport {
    pub fn new(dry_run: bool, blueprints: Vec<BlueprintReport>) -> Self {
        let changes = blueprints
            .iter()
            .flat_map(|b| &b.entries)
            .filter(|e| e.outcome.is_change())
            .count();
        Self {
            dry_run,
            changes,
            blueprints,
        }
    }

    /// One line per entry, for the command line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for blueprint in &self.blueprints {
            out.push_str(&format!("{} ({})\n", blueprint.source, blueprint.name));
            for entry in &blueprint.entries {
                let action = match &entry.outcome {
                    Outcome::Created => "created".to_owned(),
                    Outcome::Updated { fields } => format!("updated ({})", fields.join(", ")),
                    Outcome::Unchanged => "unchanged".to_owned(),
                    Outcome::Deleted => "deleted".to_owned(),
                    Outcome::Skipped { reason } => format!("skipped: {reason}"),
                    Outcome::Applied { blueprint } => format!("applied blueprint {blueprint:?}"),
                };
                out.push_str(&format!(
                    "  {} {} {}: {action}\n",
                    entry.entry, entry.model, entry.identifiers
                ));
                for note in &entry.notes {
                    out.push_str(&format!("    note: {note}\n"));
                }
            }
        }
        let verb = if self.dry_run {
            "would change"
        } else {
            "changed"
        };
        out.push_str(&format!("{verb} {} object(s)\n", self.changes));
        out
    }
}
