//! The native half of the expression environment: functions the prelude calls for what needs
//! the database (user lookups, groups) or the process (logging). They run on the blocking
//! thread that evaluates the expression and reach the async database through the runtime handle.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Map, Value as Json};
use starlark::any::ProvidesStaticType;
use starlark::environment::GlobalsBuilder;
use starlark::eval::Evaluator;
use starlark::starlark_module;
use starlark::values::{none::NoneType, Value};
use uuid::Uuid;

use crate::engine::{policy::all_group_ids, EngineServices};
use crate::store::{group, user};

/// Longest log line an expression may write (longer ones are cut).
const MAX_LOG_CHARS: usize = 1000;

/// What the native functions reach, handed to the evaluator as its `extra`.
#[derive(ProvidesStaticType)]
pub struct Host {
    /// `None` when only compiling (validation): natives are never called then.
    pub services: Option<EngineServices>,
    pub runtime: Option<tokio::runtime::Handle>,
    /// The policy's name, for log lines.
    pub policy: String,
}

fn host<'a>(eval: &Evaluator<'_, 'a, '_>) -> anyhow::Result<&'a Host> {
    eval.extra
        .and_then(|extra| extra.downcast_ref::<Host>())
        .ok_or_else(|| anyhow::anyhow!("expression host is not available"))
}

impl Host {
    fn block_on<T>(
        &self,
        f: impl for<'s> FnOnce(
            &'s EngineServices,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = anyhow::Result<T>> + Send + 's>,
        >,
    ) -> anyhow::Result<T> {
        match (&self.services, &self.runtime) {
            (Some(services), Some(runtime)) => runtime.block_on(f(services)),
            _ => Err(anyhow::anyhow!("database is not available here")),
        }
    }
}

/// The JSON the prelude turns into a user struct.
pub fn user_json(user: &user::Model, backend: Option<&str>) -> Json {
    let mut value = json!({
        "pk": user.id,
        "id": user.id,
        "uuid": user.uuid.to_string(),
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "attributes": user.attributes,
        "path": user.path,
        "type": user.user_type,
        "is_authenticated": true,
        "is_anonymous": false,
        "_usable_password": !user.password.is_empty() && !user.password.starts_with('!'),
    });
    if let (Some(backend), Some(map)) = (backend, value.as_object_mut()) {
        map.insert("backend".into(), json!(backend));
    }
    value
}

/// authentik's `AnonymousUser`, as far as expressions can tell.
pub fn anonymous_user_json() -> Json {
    json!({
        "pk": null,
        "id": null,
        "username": "",
        "email": "",
        "name": "",
        "is_active": false,
        "is_superuser": false,
        "attributes": {},
        "is_authenticated": false,
        "is_anonymous": true,
        "_usable_password": false,
    })
}

async fn groups_of(services: &EngineServices, user_id: i32) -> anyhow::Result<Vec<group::Model>> {
    let ids: HashSet<Uuid> = all_group_ids(services, user_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(group::Entity::find()
        .filter(group::Column::Id.is_in(ids))
        .order_by_asc(group::Column::Name)
        .all(&services.db)
        .await?)
}

fn group_json(group: &group::Model) -> Json {
    json!({
        "pk": group.id.to_string(),
        "group_uuid": group.id.to_string(),
        "name": group.name,
        "is_superuser": group.is_superuser,
        "attributes": group.attributes,
    })
}

fn user_pk(value: Value<'_>) -> anyhow::Result<Option<i32>> {
    if value.is_none() {
        return Ok(None);
    }
    match value.unpack_i32() {
        Some(pk) => Ok(Some(pk)),
        None => Err(anyhow::anyhow!("a user's pk must be an integer")),
    }
}

fn filters_of(value: Value<'_>) -> anyhow::Result<Map<String, Json>> {
    match value.to_json_value()? {
        Json::Object(map) => Ok(map),
        _ => Err(anyhow::anyhow!("filters must be keyword arguments")),
    }
}

fn as_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[starlark_module]
pub fn natives(builder: &mut GlobalsBuilder) {
    /// Writes an expression's log line to tracing (the event text only, never its kwargs).
    fn _ak_log(
        level: &str,
        event: &str,
        eval: &mut Evaluator<'_, '_, '_>,
    ) -> anyhow::Result<NoneType> {
        let policy = host(eval)?.policy.as_str();
        let event: String = event.chars().take(MAX_LOG_CHARS).collect();
        match level {
            "debug" => tracing::debug!(policy, "{event}"),
            "warning" => tracing::warn!(policy, "{event}"),
            "error" => tracing::error!(policy, "{event}"),
            _ => tracing::info!(policy, "{event}"),
        }
        Ok(NoneType)
    }

    /// The first user matching every filter (`username`, `email`, `name`, `pk`/`id`, `uuid`).
    fn _ak_user_lookup<'v>(
        filters: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let filters = filters_of(filters)?;
        let found = host(eval)?.block_on(|services| {
            Box::pin(async move {
                let mut query = user::Entity::find();
                for (key, value) in &filters {
                    query = match key.as_str() {
                        "username" => query.filter(user::Column::Username.eq(as_text(value))),
                        "email" => query.filter(user::Column::Email.eq(as_text(value))),
                        "name" => query.filter(user::Column::Name.eq(as_text(value))),
                        "pk" | "id" => query.filter(
                            user::Column::Id.eq(value.as_i64().and_then(|v| i32::try_from(v).ok())),
                        ),
                        "uuid" => match Uuid::parse_str(&as_text(value)) {
                            Ok(uuid) => query.filter(user::Column::Uuid.eq(uuid)),
                            Err(_) => return Ok(None),
                        },
                        other => {
                            return Err(anyhow::anyhow!(
                                "ak_user_by: filter {other:?} is not supported"
                            ))
                        }
                    };
                }
                Ok(query
                    .order_by_asc(user::Column::Id)
                    .one(&services.db)
                    .await?)
            })
        })?;
        Ok(match found {
            Some(user) => eval.heap().alloc(user_json(&user, None)),
            None => Value::new_none(),
        })
    }

    /// Whether the user is in a group (directly or through a parent) matching every filter
    /// (`name`, `pk`/`group_uuid`).
    fn _ak_group_member<'v>(
        pk: Value<'v>,
        filters: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<bool> {
        let Some(pk) = user_pk(pk)? else {
            return Ok(false);
        };
        let filters = filters_of(filters)?;
        for key in filters.keys() {
            if !matches!(key.as_str(), "name" | "pk" | "group_uuid") {
                return Err(anyhow::anyhow!(
                    "ak_is_group_member: filter {key:?} is not supported"
                ));
            }
        }
        let groups = host(eval)?.block_on(|services| Box::pin(groups_of(services, pk)))?;
        Ok(groups.iter().map(group_json).any(|g| {
            filters
                .iter()
                .all(|(key, wanted)| g.get(key).map(as_text) == Some(as_text(wanted)))
        }))
    }

    /// The user's groups' attributes merged (by group name), the user's own on top.
    fn _ak_group_attributes<'v>(
        pk: Value<'v>,
        attributes: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let mut merged = Map::new();
        if let Some(pk) = user_pk(pk)? {
            let groups = host(eval)?.block_on(|services| Box::pin(groups_of(services, pk)))?;
            for group in groups {
                if let Json::Object(attrs) = group.attributes {
                    merged.extend(attrs);
                }
            }
        }
        if let Json::Object(own) = attributes.to_json_value()? {
            merged.extend(own);
        }
        Ok(eval.heap().alloc(Json::Object(merged)))
    }

    /// The user's groups, including inherited ones.
    fn _ak_user_groups<'v>(
        pk: Value<'v>,
        eval: &mut Evaluator<'v, '_, '_>,
    ) -> anyhow::Result<Value<'v>> {
        let groups = match user_pk(pk)? {
            Some(pk) => host(eval)?.block_on(|services| Box::pin(groups_of(services, pk)))?,
            None => Vec::new(),
        };
        Ok(eval
            .heap()
            .alloc(Json::Array(groups.iter().map(group_json).collect())))
    }
}
