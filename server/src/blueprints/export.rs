//! Exporting a flow as a blueprint in authentik's format: the flow, its stages (and stages they
//! point at), prompt fields, policies, stage bindings and policy bindings, linked with `!KeyOf`
//! so that the file applies anywhere. Objects outside the export are found by name or slug
//! (`!Find`). Write-only secrets (passwords, private keys) are left out.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use serde_norway::{value::TaggedValue, Mapping, Value as Yaml};
use thiserror::Error;
use uuid::Uuid;

use super::models::{
    flows::{binding_record, flow_record},
    policies::{policy_binding_record, policy_record},
    prompts::prompt_record,
    stages::stage_record,
    uuid_of, Fields,
};
use super::registry;
use crate::store::{flow, flow_stage_binding, group, policy, policy_binding, prompt, stage, user};

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("no flow has the slug {0:?}")]
    FlowNotFound(String),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
}

/// Attributes never exported: they are secrets the receiving side must set itself.
const WRITE_ONLY: &[&str] = &[
    "password",
    "private_key",
    "client_secret",
    "admin_secret_key",
    "auth",
    "auth_password",
];

fn tagged(tag: &str, value: Yaml) -> Yaml {
    Yaml::Tagged(Box::new(TaggedValue {
        tag: serde_norway::value::Tag::new(tag),
        value,
    }))
}

fn find(model: &str, field: &str, value: &str) -> Yaml {
    tagged(
        "Find",
        Yaml::Sequence(vec![
            Yaml::String(model.into()),
            Yaml::Sequence(vec![Yaml::String(field.into()), Yaml::String(value.into())]),
        ]),
    )
}

/// JSON to YAML, with ids of known objects replaced by references.
fn to_yaml(value: &Value, references: &HashMap<Uuid, Yaml>) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Yaml::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Yaml::Number(u.into())
            } else {
                n.as_f64().map_or(Yaml::Null, |f| Yaml::Number(f.into()))
            }
        }
        Value::String(s) => uuid_of(value)
            .and_then(|id| references.get(&id).cloned())
            .unwrap_or_else(|| Yaml::String(s.clone())),
        Value::Array(items) => {
            Yaml::Sequence(items.iter().map(|v| to_yaml(v, references)).collect())
        }
        Value::Object(map) => Yaml::Mapping(
            map.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v, references)))
                .collect(),
        ),
    }
}

fn mapping(fields: &Fields, keys: &[&str], references: &HashMap<Uuid, Yaml>) -> Mapping {
    keys.iter()
        .filter_map(|k| {
            fields
                .get(*k)
                .filter(|v| !v.is_null())
                .map(|v| (Yaml::String((*k).into()), to_yaml(v, references)))
        })
        .collect()
}

fn entry(model: &str, id: Option<&str>, identifiers: Mapping, attrs: Mapping) -> Yaml {
    let mut map = Mapping::new();
    map.insert("model".into(), Yaml::String(model.into()));
    if let Some(id) = id {
        map.insert("id".into(), Yaml::String(id.into()));
    }
    map.insert("identifiers".into(), Yaml::Mapping(identifiers));
    if !attrs.is_empty() {
        map.insert("attrs".into(), Yaml::Mapping(attrs));
    }
    Yaml::Mapping(map)
}

/// Every uuid mentioned anywhere in `value`.
fn uuids_in(value: &Value, out: &mut Vec<Uuid>) {
    match value {
        Value::String(_) => out.extend(uuid_of(value)),
        Value::Array(items) => items.iter().for_each(|v| uuids_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| uuids_in(v, out)),
        _ => {}
    }
}

/// The flow `slug` as blueprint YAML.
pub async fn export_flow(db: &DatabaseConnection, slug: &str) -> Result<String, ExportError> {
    let flow = flow::Entity::find()
        .filter(flow::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or_else(|| ExportError::FlowNotFound(slug.to_owned()))?;
    let bindings = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(flow.id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::Id)
        .all(db)
        .await?;
    let all_stages: HashMap<Uuid, stage::Model> = stage::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let all_prompts: HashMap<Uuid, prompt::Model> = prompt::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let all_policies: HashMap<Uuid, policy::Model> = policy::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();

    // Stages: the bound ones, after any stage they point at (e.g. identification's password
    // stage), so every `!KeyOf` refers backwards.
    let mut stage_order: Vec<Uuid> = Vec::new();
    let mut visiting = Vec::new();
    for binding in &bindings {
        order_stage(
            binding.stage_id,
            &all_stages,
            &mut stage_order,
            &mut visiting,
        );
    }

    let mut mentioned = Vec::new();
    for id in &stage_order {
        if let Some(row) = all_stages.get(id) {
            uuids_in(&row.config, &mut mentioned);
        }
    }
    let prompts: Vec<&prompt::Model> = unique(&mentioned)
        .into_iter()
        .filter_map(|id| all_prompts.get(&id))
        .collect();
    let mut targets: Vec<Uuid> = vec![flow.id];
    targets.extend(bindings.iter().map(|b| b.id));
    let policy_bindings = policy_binding::Entity::find()
        .filter(policy_binding::Column::TargetId.is_in(targets.clone()))
        .order_by_asc(policy_binding::Column::Order)
        .order_by_asc(policy_binding::Column::Id)
        .all(db)
        .await?;
    mentioned.extend(policy_bindings.iter().filter_map(|b| b.policy_id));
    let policies: Vec<&policy::Model> = unique(&mentioned)
        .into_iter()
        .filter_map(|id| all_policies.get(&id))
        .collect();

    // References: objects in this export by `!KeyOf`, other flows, groups and users by name.
    let mut references: HashMap<Uuid, Yaml> = HashMap::new();
    for other in flow::Entity::find().all(db).await? {
        references.insert(other.id, find(registry::FLOW, "slug", &other.slug));
    }
    for g in group::Entity::find().all(db).await? {
        references.insert(g.id, find(registry::GROUP, "name", &g.name));
    }
    let key_of = |id: &str| tagged("KeyOf", Yaml::String(id.into()));
    references.insert(flow.id, key_of("flow"));
    for p in &prompts {
        references.insert(p.id, key_of(&format!("prompt-{}", p.name)));
    }
    for p in &policies {
        references.insert(p.id, key_of(&format!("policy-{}", p.name)));
    }
    for id in &stage_order {
        if let Some(row) = all_stages.get(id) {
            references.insert(*id, key_of(&format!("stage-{}", row.name)));
        }
    }
    let binding_ids: BTreeMap<Uuid, String> = bindings
        .iter()
        .map(|b| {
            let stage_name = all_stages
                .get(&b.stage_id)
                .map(|s| s.name.as_str())
                .unwrap_or("?");
            (b.id, format!("binding-{}-{stage_name}", b.order))
        })
        .collect();
    for (id, name) in &binding_ids {
        references.insert(*id, key_of(name));
    }

    let mut entries = Vec::new();
    let record = flow_record(&flow);
    entries.push(entry(
        registry::FLOW,
        Some("flow"),
        mapping(&record.fields, &["slug"], &references),
        mapping(
            &record.fields,
            &[
                "name",
                "title",
                "designation",
                "authentication",
                "policy_engine_mode",
                "layout",
                "denied_action",
                "background",
                "compatibility_mode",
            ],
            &references,
        ),
    ));
    for p in &prompts {
        let record = prompt_record(p);
        let keys: Vec<&str> = record
            .fields
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "name")
            .collect();
        entries.push(entry(
            registry::PROMPT,
            Some(&format!("prompt-{}", p.name)),
            mapping(&record.fields, &["name"], &references),
            mapping(&record.fields, &keys, &references),
        ));
    }
    for p in &policies {
        let Some(model) = registry::policy_model(&p.kind) else {
            continue;
        };
        let record = policy_record(p);
        let keys: Vec<&str> = record
            .fields
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "name")
            .collect();
        entries.push(entry(
            model,
            Some(&format!("policy-{}", p.name)),
            mapping(&record.fields, &["name"], &references),
            mapping(&record.fields, &keys, &references),
        ));
    }
    for id in &stage_order {
        let Some(row) = all_stages.get(id) else {
            continue;
        };
        let Some(model) = registry::stage_model(&row.kind) else {
            continue;
        };
        let record = stage_record(row);
        let keys: Vec<&str> = record
            .fields
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "name" && !WRITE_ONLY.contains(k))
            .collect();
        entries.push(entry(
            model,
            Some(&format!("stage-{}", row.name)),
            mapping(&record.fields, &["name"], &references),
            mapping(&record.fields, &keys, &references),
        ));
    }
    for b in &bindings {
        let record = binding_record(b);
        entries.push(entry(
            registry::FLOW_STAGE_BINDING,
            binding_ids.get(&b.id).map(String::as_str),
            mapping(&record.fields, &["target", "stage", "order"], &references),
            mapping(
                &record.fields,
                &[
                    "evaluate_on_plan",
                    "re_evaluate_policies",
                    "invalid_response_action",
                    "policy_engine_mode",
                ],
                &references,
            ),
        ));
    }
    for b in &policy_bindings {
        let mut record = policy_binding_record(b);
        if let Some(user_id) = b.user_id {
            if let Some(u) = user::Entity::find_by_id(user_id).one(db).await? {
                // Users are referenced by username: pks differ between installs.
                record.fields.remove("user");
                let mut identifiers = mapping(&record.fields, &["target", "order"], &references);
                identifiers.insert("user".into(), find(registry::USER, "username", &u.username));
                entries.push(entry(
                    registry::POLICY_BINDING,
                    None,
                    identifiers,
                    mapping(
                        &record.fields,
                        &["negate", "enabled", "timeout", "failure_result"],
                        &references,
                    ),
                ));
            }
            continue;
        }
        entries.push(entry(
            registry::POLICY_BINDING,
            None,
            mapping(
                &record.fields,
                &["target", "order", "policy", "group"],
                &references,
            ),
            mapping(
                &record.fields,
                &["negate", "enabled", "timeout", "failure_result"],
                &references,
            ),
        ));
    }

    let mut metadata = Mapping::new();
    metadata.insert(
        "name".into(),
        Yaml::String(format!("keyflow export: {}", flow.slug)),
    );
    let mut document = Mapping::new();
    document.insert("version".into(), Yaml::Number(1.into()));
    document.insert("metadata".into(), Yaml::Mapping(metadata));
    document.insert("entries".into(), Yaml::Sequence(entries));
    Ok(serde_norway::to_string(&Yaml::Mapping(document))?)
}

/// Puts `id` after the stages its configuration points at (depth first; cycles are cut).
fn order_stage(
    id: Uuid,
    all: &HashMap<Uuid, stage::Model>,
    order: &mut Vec<Uuid>,
    visiting: &mut Vec<Uuid>,
) {
    if order.contains(&id) || visiting.contains(&id) {
        return;
    }
    let Some(row) = all.get(&id) else {
        return;
    };
    visiting.push(id);
    let mut mentioned = Vec::new();
    uuids_in(&row.config, &mut mentioned);
    for other in mentioned.into_iter().filter(|m| all.contains_key(m)) {
        order_stage(other, all, order, visiting);
    }
    order.push(id);
}

fn unique(ids: &[Uuid]) -> Vec<Uuid> {
    let mut out = Vec::new();
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    out
}
