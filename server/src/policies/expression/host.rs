//! The host half of the expression environment: the functions the prelude calls for what needs
//! the database (user lookups, groups, authenticators, other policies, events). The sandbox
//! pauses the expression at each call and resumes it with the answer.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use monty_types::MontyObject;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value as Json};
use uuid::Uuid;

use super::values;
use crate::engine::{
    policy::{all_group_ids, PolicyRequest},
    EngineServices,
};
use crate::sandbox::{Host, HostCall, HostReply, MAX_NESTING_DEPTH};
use crate::store::{group, group_member, policy, user};

/// How deep `ak_call_policy` may nest (a policy calling itself stops here); the sandbox refuses
/// deeper jobs anyway.
const MAX_POLICY_DEPTH: usize = MAX_NESTING_DEPTH;
/// Longest event action an expression may record.
const MAX_ACTION_CHARS: usize = 100;

pub struct ExpressionHost<'a> {
    pub services: &'a EngineServices,
    pub request: &'a PolicyRequest<'a>,
    /// The evaluating policy's name, for events and log lines.
    pub policy: &'a str,
    pub timeout: Duration,
    /// `ak_call_policy` nesting of this evaluation.
    pub depth: usize,
}

/// Why a host function refused: becomes a Python exception in the expression.
struct Refusal {
    exc_type: &'static str,
    message: String,
}

fn refuse(exc_type: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        exc_type,
        message: message.into(),
    }
}

impl From<sea_orm::DbErr> for Refusal {
    fn from(error: sea_orm::DbErr) -> Self {
        tracing::warn!(%error, "expression host: database error");
        refuse("RuntimeError", "keyflow could not read its data")
    }
}

#[async_trait]
impl Host for ExpressionHost<'_> {
    async fn call(&mut self, call: HostCall) -> HostReply {
        let answer = match call.function.as_str() {
            "_ak_host_user_by" => self.user_by(&call.kwargs).await,
            "_ak_host_user_groups" => self.user_groups(&call.args).await,
            "_ak_host_has_authenticator" => self.has_authenticator(&call.args).await,
            "_ak_host_call_policy" => self.call_policy(&call.args).await,
            "_ak_host_create_event" => self.create_event(&call.args, &call.kwargs).await,
            other => Err(refuse(
                "NameError",
                format!("name '{other}' is not defined"),
            )),
        };
        match answer {
            Ok(value) => HostReply::Value(value),
            Err(refusal) => HostReply::Raise {
                exc_type: refusal.exc_type.to_owned(),
                message: refusal.message,
            },
        }
    }
}

fn as_text(value: &MontyObject) -> String {
    match value {
        MontyObject::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn user_pk(value: Option<&MontyObject>) -> Result<i32, Refusal> {
    match value {
        Some(MontyObject::Int(pk)) => {
            i32::try_from(*pk).map_err(|_| refuse("ValueError", "no such user"))
        }
        _ => Err(refuse("TypeError", "a user's pk must be an integer")),
    }
}

impl ExpressionHost<'_> {
    /// `ak_user_by(**filters)`: the first user matching every filter.
    async fn user_by(
        &self,
        filters: &[(MontyObject, MontyObject)],
    ) -> Result<MontyObject, Refusal> {
        let mut query = user::Entity::find();
        for (key, value) in filters {
            let key = as_text(key);
            query = match key.as_str() {
                "username" => query.filter(user::Column::Username.eq(as_text(value))),
                "email" => query.filter(user::Column::Email.eq(as_text(value))),
                "name" => query.filter(user::Column::Name.eq(as_text(value))),
                "pk" | "id" => query.filter(user::Column::Id.eq(user_pk(Some(value))?)),
                "uuid" => match Uuid::parse_str(&as_text(value)) {
                    Ok(uuid) => query.filter(user::Column::Uuid.eq(uuid)),
                    Err(_) => return Ok(MontyObject::None),
                },
                "is_active" => {
                    query.filter(user::Column::IsActive.eq(value == &MontyObject::Bool(true)))
                }
                other => {
                    return Err(refuse(
                        "ValueError",
                        format!("ak_user_by: filter {other:?} is not supported"),
                    ))
                }
            };
        }
        let found = query
            .order_by_asc(user::Column::Id)
            .one(&self.services.db)
            .await?;
        Ok(found.map_or(MontyObject::None, |u| values::user(&u, None)))
    }

    /// The user's groups: direct ones, or with `inherited` also their parents.
    async fn user_groups(&self, args: &[MontyObject]) -> Result<MontyObject, Refusal> {
        let pk = user_pk(args.first())?;
        let inherited = matches!(args.get(1), Some(MontyObject::Bool(true)));
        let ids: HashSet<Uuid> = if inherited {
            all_group_ids(self.services, pk)
                .await
                .map_err(|e| refuse("RuntimeError", e.to_string()))?
        } else {
            group_member::Entity::find()
                .filter(group_member::Column::UserId.eq(pk))
                .all(&self.services.db)
                .await?
                .into_iter()
                .map(|m| m.group_id)
                .collect()
        };
        let groups = group::Entity::find()
            .filter(group::Column::Id.is_in(ids))
            .order_by_asc(group::Column::Name)
            .all(&self.services.db)
            .await?;
        Ok(MontyObject::List(
            groups.iter().map(values::group).collect(),
        ))
    }

    /// `ak_user_has_authenticator(user, device_type=None)`: a confirmed device of that kind
    /// (authentik's model names, e.g. `authentik_stages_authenticator_totp.totpdevice`).
    async fn has_authenticator(&self, args: &[MontyObject]) -> Result<MontyObject, Refusal> {
        let pk = user_pk(args.first())?;
        let kind = match args.get(1) {
            None | Some(MontyObject::None) => None,
            Some(value) => Some(as_text(value).to_ascii_lowercase()),
        };
        let wants = |name: &str| kind.as_deref().is_none_or(|k| k.contains(name));
        if !["totp", "static", "webauthn"].iter().any(|k| wants(k)) {
            return Err(refuse(
                "ValueError",
                format!("unknown device type {:?}", kind.unwrap_or_default()),
            ));
        }
        let devices = crate::mfa::devices::confirmed_for_user(&self.services.db, pk).await?;
        let found = devices.iter().any(|d| wants(d.class.as_str()));
        Ok(MontyObject::Bool(found))
    }

    /// `ak_call_policy(name)`: another policy's result for the same request.
    async fn call_policy(&self, args: &[MontyObject]) -> Result<MontyObject, Refusal> {
        let name = args
            .first()
            .map(as_text)
            .ok_or_else(|| refuse("TypeError", "ak_call_policy needs a policy name"))?;
        if self.depth >= MAX_POLICY_DEPTH {
            return Err(refuse("RecursionError", "ak_call_policy nests too deeply"));
        }
        let row = policy::Entity::find()
            .filter(policy::Column::Name.eq(name.as_str()))
            .one(&self.services.db)
            .await?
            .ok_or_else(|| refuse("ValueError", format!("Policy {name:?} not found")))?;
        let config = crate::policies::PolicyConfig::from_row(&row)
            .map_err(|e| refuse("ValueError", e.to_string()))?;
        let result = match &config {
            crate::policies::PolicyConfig::Expression(expression) => {
                Box::pin(expression.evaluate_at_depth(
                    self.services,
                    &row,
                    self.request,
                    self.timeout,
                    self.depth + 1,
                ))
                .await
            }
            _ => crate::policies::evaluate(self.services, &row, self.request, self.timeout).await,
        };
        let (passing, messages) = match result {
            Ok(result) => (result.passing, result.messages),
            Err(error) => (false, vec![error.to_string()]),
        };
        Ok(values::dict([
            ("passing", MontyObject::Bool(passing)),
            (
                "messages",
                MontyObject::List(messages.iter().map(|m| values::text(m)).collect()),
            ),
        ]))
    }

    /// `ak_create_event(action, **kwargs)`: an event with the kwargs as its context.
    async fn create_event(
        &self,
        args: &[MontyObject],
        kwargs: &[(MontyObject, MontyObject)],
    ) -> Result<MontyObject, Refusal> {
        let action: String = args
            .first()
            .map(as_text)
            .ok_or_else(|| refuse("TypeError", "ak_create_event needs an action"))?
            .chars()
            .take(MAX_ACTION_CHARS)
            .collect();
        let mut context = serde_json::Map::new();
        for (key, value) in kwargs {
            context.insert(as_text(key), values::to_json(value));
        }
        context.insert("policy".into(), json!({"name": self.policy}));
        if let Some(dry_run) = &self.services.dry_run {
            // A dry run (the flow simulator) writes nothing: the event is only noted.
            dry_run.record(format!("event {action:?} (policy {:?})", self.policy));
            return Ok(MontyObject::None);
        }
        let event = crate::events::NewEvent {
            action: &action,
            user: self.request.user.map(|u| (u.id, u.username.as_str())),
            client_ip: &self.request.request.client_ip,
            context: Json::Object(context),
            now: chrono::Utc::now(),
        };
        crate::events::record(&self.services.db, event).await?;
        Ok(MontyObject::None)
    }
}
