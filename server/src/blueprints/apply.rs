//! Applying blueprints: every file of one call in ONE database transaction, so a file that
//! fails leaves the database exactly as it was. Entries are compared with what is stored, so a
//! second apply reports "unchanged" everywhere. A dry run takes the same path and rolls back.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{Map, Value};
use serde_norway::Value as Yaml;

use super::error::{ApplyError, BlueprintError, EntryError};
use super::format::{self, Blueprint, Entry, EntryState};
use super::models::{self, Fields};
use super::registry::{self, Model};
use super::report::{ApplyReport, BlueprintReport, EntryReport, Outcome};
use super::tags::{resolve, truthy, Reference, Scope, TagError};

/// A blueprint's text and where it came from (a file name, `api`, ...).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub content: String,
}

#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Roll back at the end: report what would change.
    pub dry_run: bool,
    /// Whether `!Env` may read the server's environment (not for API callers).
    pub allow_env: bool,
    pub now: DateTime<Utc>,
}

/// Parses and applies `sources` in order, atomically.
pub async fn apply(
    db: &DatabaseConnection,
    sources: &[Source],
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    let blueprints = sources
        .iter()
        .map(|s| format::parse(&s.name, &s.content))
        .collect::<Result<Vec<_>, _>>()?;
    let mut library = blueprints.clone();
    for embedded in super::embedded::sources() {
        library.push(format::parse(&embedded.name, &embedded.content)?);
    }
    let tx = crate::store::begin_write(db).await?;
    let mut run = Run {
        tx: &tx,
        options,
        library: &library,
        applied: HashSet::new(),
        active: Vec::new(),
        reports: Vec::new(),
    };
    for blueprint in &blueprints {
        if !run.applied.contains(&blueprint.source) {
            run.apply_blueprint(blueprint).await?;
        }
    }
    let reports = std::mem::take(&mut run.reports);
    if options.dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(ApplyReport::new(options.dry_run, reports))
}

struct Run<'a> {
    tx: &'a DatabaseTransaction,
    options: &'a ApplyOptions,
    /// Blueprints `metaapplyblueprint` may name: the ones being applied, then the embedded ones.
    library: &'a [Blueprint],
    /// Sources already applied in this call (each applies once).
    applied: HashSet<String>,
    /// The chain of blueprints being applied, to refuse cycles.
    active: Vec<String>,
    reports: Vec<BlueprintReport>,
}

type Applying<'r> = Pin<Box<dyn Future<Output = Result<(), ApplyError>> + Send + 'r>>;

/// How one entry ended, and what its `id` now stands for.
struct Done {
    outcome: Outcome,
    reference: Reference,
    notes: Vec<String>,
}

impl Done {
    fn skipped(reason: String) -> Self {
        Done {
            reference: Reference::Skipped(reason.clone()),
            outcome: Outcome::Skipped { reason },
            notes: Vec::new(),
        }
    }
}

impl<'a> Run<'a> {
    fn apply_blueprint<'r>(&'r mut self, blueprint: &'a Blueprint) -> Applying<'r> {
        Box::pin(async move {
            self.applied.insert(blueprint.source.clone());
            self.active.push(blueprint.source.clone());
            let references = HashMap::new();
            let no_context = Map::new();
            let context = {
                let scope = self.scope(&references, &no_context);
                match resolve(
                    &scope,
                    &Yaml::Mapping(blueprint.context.clone()),
                    "context".into(),
                )
                .await
                {
                    Ok(Value::Object(map)) => map,
                    Ok(_) => Map::new(),
                    Err(TagError::Database(e)) => return Err(e.into()),
                    Err(TagError::Skip(reason))
                    | Err(TagError::Invalid {
                        message: reason, ..
                    }) => {
                        return Err(BlueprintError::file(
                            &blueprint.source,
                            format!("context: {reason}"),
                        )
                        .into())
                    }
                }
            };
            let mut references = references;
            let mut entries = Vec::new();
            for entry in &blueprint.entries {
                let done = self
                    .apply_entry(blueprint, entry, &references, &context)
                    .await?;
                if let Some(id) = &entry.id {
                    references.insert(id.clone(), done.reference);
                }
                let mut notes: Vec<String> = entry
                    .ignored_keys
                    .iter()
                    .map(|k| format!("entry key {k:?} is not supported by keyflow and was ignored"))
                    .collect();
                notes.extend(done.notes);
                entries.push(EntryReport {
                    entry: entry.position.clone(),
                    model: entry.model.clone(),
                    id: entry.id.clone(),
                    identifiers: plain(&entry.identifiers),
                    outcome: done.outcome,
                    notes,
                });
            }
            self.active.pop();
            self.reports.push(BlueprintReport {
                source: blueprint.source.clone(),
                name: blueprint.name.clone(),
                entries,
            });
            Ok(())
        })
    }

    fn scope<'s>(
        &'s self,
        references: &'s HashMap<String, Reference>,
        context: &'s Map<String, Value>,
    ) -> Scope<'s> {
        Scope {
            tx: self.tx,
            references,
            context,
            allow_env: self.options.allow_env,
            now: self.options.now,
            removing: false,
        }
    }

    async fn apply_entry(
        &mut self,
        blueprint: &'a Blueprint,
        entry: &'a Entry,
        references: &HashMap<String, Reference>,
        context: &Map<String, Value>,
    ) -> Result<Done, ApplyError> {
        let fail = |field: Option<String>, message: String| -> ApplyError {
            BlueprintError {
                file: blueprint.source.clone(),
                entry: Some(entry.position.clone()),
                model: Some(entry.model.clone()),
                field,
                message,
            }
            .into()
        };
        let Some(model) = registry::lookup(&entry.model) else {
            return Ok(Done::skipped("model not supported by keyflow".into()));
        };
        let resolved = {
            let scope = self.scope(references, context);
            resolve_entry(&scope, entry).await
        };
        let (conditions_met, identifiers, attrs) = match resolved {
            Ok(parts) => parts,
            Err(TagError::Skip(reason)) => return Ok(Done::skipped(reason)),
            Err(TagError::Invalid { path, message }) => return Err(fail(Some(path), message)),
            Err(TagError::Database(e)) => return Err(e.into()),
        };
        if !conditions_met {
            return Ok(Done::skipped("conditions not met".into()));
        }
        if model == Model::MetaApplyBlueprint {
            return self
                .meta_apply(&attrs)
                .await
                .map_err(|(field, message)| fail(field, message));
        }
        let Some(store) = registry::store(model, self.options.now) else {
            return Ok(Done::skipped("model not supported by keyflow".into()));
        };
        match apply_to_store(self.tx, store.as_ref(), entry.state, &identifiers, attrs).await {
            Ok(done) => Ok(done),
            Err(EntryError::Unsupported(reason)) => Ok(Done::skipped(reason)),
            Err(EntryError::Invalid { field, message }) => Err(fail(field, message)),
            Err(EntryError::Database(e)) => match e.sql_err() {
                // A constraint the blueprint broke is the blueprint's fault: say so, as a 4xx.
                Some(sql) => Err(fail(None, format!("the database refused it: {sql}"))),
                None => Err(e.into()),
            },
        }
    }

    /// `metaapplyblueprint`: applies the named blueprint now (once per call).
    async fn meta_apply(&mut self, attrs: &Fields) -> Result<Done, (Option<String>, String)> {
        let name = attrs
            .get("identifiers")
            .and_then(|i| i.get("name"))
            .and_then(Value::as_str)
            .ok_or((
                Some("attrs.identifiers.name".into()),
                "the blueprint to apply must be named".into(),
            ))?
            .to_owned();
        let required = attrs.get("required").is_none_or(truthy);
        let Some(target) = self.library.iter().find(|b| b.name == name) else {
            if required {
                return Err((
                    Some("attrs.identifiers.name".into()),
                    format!(
                        "no blueprint named {name:?} is available (keyflow looks among the files \
                         being applied and its embedded blueprints)"
                    ),
                ));
            }
            return Ok(Done::skipped(format!(
                "blueprint {name:?} is not available"
            )));
        };
        if self.active.contains(&target.source) {
            return Err((
                Some("attrs.identifiers.name".into()),
                format!("blueprint {name:?} applies itself (a cycle)"),
            ));
        }
        let mut notes = Vec::new();
        if self.applied.contains(&target.source) {
            notes.push("already applied earlier in this run".into());
        } else {
            self.apply_blueprint(target)
                .await
                .map_err(|e| (Some("attrs.identifiers.name".into()), e.to_string()))?;
        }
        Ok(Done {
            outcome: Outcome::Applied { blueprint: name },
            reference: Reference::Skipped("a metaapplyblueprint entry has no object".into()),
            notes,
        })
    }
}

/// Resolves the entry's conditions, identifiers and attributes. A `state: absent` entry needs
/// only its identifiers to find what to delete: its attributes are not resolved, so references
/// in them (perhaps to objects this blueprint removed) cannot block the removal.
async fn resolve_entry(
    scope: &Scope<'_>,
    entry: &Entry,
) -> Result<(bool, Fields, Fields), TagError> {
    let removing = Scope {
        removing: entry.state == EntryState::Absent,
        ..*scope
    };
    let scope = &removing;
    for (i, condition) in entry.conditions.iter().enumerate() {
        if !truthy(&resolve(scope, condition, format!("conditions[{i}]")).await?) {
            return Ok((false, Fields::new(), Fields::new()));
        }
    }
    let object = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let identifiers = object(
        resolve(
            scope,
            &Yaml::Mapping(entry.identifiers.clone()),
            "identifiers".into(),
        )
        .await?,
    );
    if scope.removing {
        return Ok((true, identifiers, Fields::new()));
    }
    let attrs = object(resolve(scope, &Yaml::Mapping(entry.attrs.clone()), "attrs".into()).await?);
    Ok((true, identifiers, attrs))
}

/// Creates, updates or deletes one object so that it matches the entry.
async fn apply_to_store(
    tx: &DatabaseTransaction,
    store: &dyn models::ModelStore,
    state: EntryState,
    identifiers: &Fields,
    attrs: Fields,
) -> Result<Done, EntryError> {
    if identifiers.is_empty() {
        return Err(EntryError::field(
            "identifiers",
            "needed to find the object (e.g. its name or slug)",
        ));
    }
    let existing = models::find(store, tx, identifiers).await?;
    let done = |outcome, pk: &Value, notes| Done {
        outcome,
        reference: Reference::Pk(pk.clone()),
        notes,
    };
    match (state, &existing) {
        (EntryState::Absent, Some(record)) => {
            store.delete(tx, &record.pk).await?;
            return Ok(Done {
                outcome: Outcome::Deleted,
                reference: Reference::Deleted(Some(record.pk.clone())),
                notes: Vec::new(),
            });
        }
        (EntryState::Absent, None) => {
            return Ok(Done {
                outcome: Outcome::Unchanged,
                reference: Reference::Deleted(None),
                notes: vec!["already absent".into()],
            });
        }
        (EntryState::Created, Some(record)) => {
            return Ok(done(
                Outcome::Unchanged,
                &record.pk,
                vec!["exists; state \"created\" never updates".into()],
            ));
        }
        (EntryState::MustCreated, Some(_)) => {
            return Err(EntryError::entry(
                "the object already exists (state: must_created)",
            ));
        }
        _ => {}
    }
    let mut merged = existing
        .as_ref()
        .map(|record| record.fields.clone())
        .unwrap_or_default();
    for (key, value) in identifiers.iter().filter(|(k, _)| *k != "pk") {
        merged.insert(key.clone(), value.clone());
    }
    let attr_keys: Vec<String> = attrs.keys().cloned().collect();
    merged.extend(attrs);
    let normalised = store.normalise(merged)?;
    if let Some(key) = identifiers
        .keys()
        .find(|k| *k != "pk" && !normalised.contains_key(*k))
    {
        return Err(EntryError::field(
            format!("identifiers.{key}"),
            "keyflow does not store this field for this model, so it cannot identify an object",
        ));
    }
    let notes: Vec<String> = attr_keys
        .iter()
        .filter(|k| !normalised.contains_key(*k))
        .map(|k| format!("attribute {k:?} is not supported by keyflow and was ignored"))
        .collect();
    store.check(tx, &normalised).await?;
    match existing {
        Some(record) => {
            let changed: Vec<String> = normalised
                .iter()
                .filter(|(key, value)| record.fields.get(*key) != Some(*value))
                .map(|(key, _)| key.clone())
                .collect();
            if changed.is_empty() {
                Ok(done(Outcome::Unchanged, &record.pk, notes))
            } else {
                store.update(tx, &record.pk, &normalised).await?;
                Ok(done(
                    Outcome::Updated { fields: changed },
                    &record.pk,
                    notes,
                ))
            }
        }
        None => {
            let pk = store.insert(tx, identifiers.get("pk"), &normalised).await?;
            Ok(done(Outcome::Created, &pk, notes))
        }
    }
}

/// The identifiers as shown in reports (tags written as `!Tag value` text).
fn plain(mapping: &serde_norway::Mapping) -> Value {
    fn convert(value: &Yaml) -> Value {
        match value {
            Yaml::Null => Value::Null,
            Yaml::Bool(b) => Value::Bool(*b),
            Yaml::Number(n) => super::tags::yaml_number(n),
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Sequence(items) => Value::Array(items.iter().map(convert).collect()),
            Yaml::Mapping(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let key = match convert(k) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (key, convert(v))
                    })
                    .collect(),
            ),
            Yaml::Tagged(tagged) => {
                let inner = match convert(&tagged.value) {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                Value::String(format!("{} {inner}", tagged.tag))
            }
        }
    }
    convert(&Yaml::Mapping(mapping.clone()))
}
