//! The user's authenticator devices across kinds: listing, lookup, rename, delete, and code
//! verification for the code-based kinds (TOTP, static tokens and emailed codes).
//!
//! Concurrency: acceptance is decided by a conditional write, not by a read followed by a write.
//! A TOTP step is taken with `UPDATE … SET last_t = step WHERE last_t < step`, a static token by
//! deleting its row; only the request whose write changed a row succeeds, so two requests racing
//! with the same code cannot both get in (on SQLite and PostgreSQL alike, without row locks).

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait},
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};

use super::crypto::MfaKeys;
use super::throttle::blocked_until;
use super::totp::{self, CodeCheck, TotpAlgorithm, TotpParams};
use crate::store::{
    email_device, sms_device, static_device, static_token, totp_device, webauthn_device,
};

/// authentik's device classes (the model name without "device").
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    Static,
    Totp,
    Webauthn,
    Duo,
    Sms,
    Email,
}

impl DeviceClass {
    pub const ALL: [DeviceClass; 6] = [
        Self::Static,
        Self::Totp,
        Self::Webauthn,
        Self::Duo,
        Self::Sms,
        Self::Email,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Totp => "totp",
            Self::Webauthn => "webauthn",
            Self::Duo => "duo",
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Devices whose proof is a typed code (their `last_used` has step granularity).
    pub fn is_code_based(self) -> bool {
        matches!(self, Self::Static | Self::Totp | Self::Sms | Self::Email)
    }

    /// authentik's `verbose_name` of the device model.
    pub fn verbose_name(self) -> &'static str {
        match self {
            Self::Static => "Static Device",
            Self::Totp => "TOTP Device",
            Self::Webauthn => "WebAuthn Device",
            Self::Duo => "Duo Device",
            Self::Sms => "SMS Device",
            Self::Email => "Email Device",
        }
    }

    /// authentik's `app_label.model_name` of the device model.
    pub fn meta_model_name(self) -> &'static str {
        match self {
            Self::Static => "authentik_stages_authenticator_static.staticdevice",
            Self::Totp => "authentik_stages_authenticator_totp.totpdevice",
            Self::Webauthn => "authentik_stages_authenticator_webauthn.webauthndevice",
            Self::Duo => "authentik_stages_authenticator_duo.duodevice",
            Self::Sms => "authentik_stages_authenticator_sms.smsdevice",
            Self::Email => "authentik_stages_authenticator_email.emaildevice",
        }
    }
}

/// One device of any kind, with the columns all kinds share.
#[derive(Clone, Debug, PartialEq)]
pub struct Device {
    pub class: DeviceClass,
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    pub confirmed: bool,
    pub created: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

impl Device {
    /// `device_uid` on the wire: the primary key as a string.
    pub fn uid(&self) -> String {
        self.id.to_string()
    }
}

impl From<totp_device::Model> for Device {
    fn from(m: totp_device::Model) -> Self {
        Self {
            class: DeviceClass::Totp,
            id: m.id,
            user_id: m.user_id,
            name: m.name,
            confirmed: m.confirmed,
            created: m.created,
            last_used: m.last_used,
        }
    }
}

impl From<static_device::Model> for Device {
    fn from(m: static_device::Model) -> Self {
        Self {
            class: DeviceClass::Static,
            id: m.id,
            user_id: m.user_id,
            name: m.name,
            confirmed: m.confirmed,
            created: m.created,
            last_used: m.last_used,
        }
    }
}

impl From<webauthn_device::Model> for Device {
    fn from(m: webauthn_device::Model) -> Self {
        Self {
            class: DeviceClass::Webauthn,
            id: m.id,
            user_id: m.user_id,
            name: m.name,
            confirmed: m.confirmed,
            created: m.created,
            last_used: m.last_used,
        }
    }
}

impl From<email_device::Model> for Device {
    fn from(m: email_device::Model) -> Self {
        Self {
            class: DeviceClass::Email,
            id: m.id,
            user_id: m.user_id,
            name: m.name,
            confirmed: m.confirmed,
            created: m.created,
            last_used: m.last_used,
        }
    }
}

impl From<sms_device::Model> for Device {
    fn from(m: sms_device::Model) -> Self {
        Self {
            class: DeviceClass::Sms,
            id: m.id,
            user_id: m.user_id,
            name: m.name,
            confirmed: m.confirmed,
            created: m.created,
            last_used: m.last_used,
        }
    }
}

/// Which devices [`list`] returns.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeviceFilter {
    /// Only this user's (else everyone's).
    pub user_id: Option<i32>,
    /// Only this class (else every class).
    pub class: Option<DeviceClass>,
    /// Only confirmed devices (set-ups in progress left out).
    pub confirmed_only: bool,
}

/// Devices matching `filter`, in device-class order, then oldest first.
pub async fn list(db: &DatabaseConnection, filter: DeviceFilter) -> Result<Vec<Device>, DbErr> {
    // One arm per table: the four entities share columns but not a Rust type.
    macro_rules! rows_of {
        ($class:expr, $entity:ident) => {
            if filter.class.is_none_or(|c| c == $class) {
                let mut query = $entity::Entity::find().order_by_asc($entity::Column::Id);
                if let Some(user_id) = filter.user_id {
                    query = query.filter($entity::Column::UserId.eq(user_id));
                }
                if filter.confirmed_only {
                    query = query.filter($entity::Column::Confirmed.eq(true));
                }
                query.all(db).await?.into_iter().map(Device::from).collect()
            } else {
                Vec::new()
            }
        };
    }
    let mut devices: Vec<Device> = rows_of!(DeviceClass::Static, static_device);
    devices.extend(rows_of!(DeviceClass::Totp, totp_device));
    devices.extend(rows_of!(DeviceClass::Webauthn, webauthn_device));
    devices.extend(rows_of!(DeviceClass::Sms, sms_device));
    devices.extend(rows_of!(DeviceClass::Email, email_device));
    Ok(devices)
}

/// All confirmed devices of a user, in device-class order, then oldest first.
pub async fn confirmed_for_user(
    db: &DatabaseConnection,
    user_id: i32,
) -> Result<Vec<Device>, DbErr> {
    list(
        db,
        DeviceFilter {
            user_id: Some(user_id),
            class: None,
            confirmed_only: true,
        },
    )
    .await
}

/// One device by class and id, whoever owns it.
pub async fn find(
    db: &DatabaseConnection,
    class: DeviceClass,
    id: i32,
) -> Result<Option<Device>, DbErr> {
    Ok(match class {
        DeviceClass::Totp => totp_device::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(Device::from),
        DeviceClass::Static => static_device::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(Device::from),
        DeviceClass::Webauthn => webauthn_device::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(Device::from),
        DeviceClass::Email => email_device::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(Device::from),
        DeviceClass::Sms => sms_device::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(Device::from),
        DeviceClass::Duo => None,
    })
}

/// One device of `user_id` (confirmed or not); `None` when it does not exist or is not theirs.
pub async fn find_own(
    db: &DatabaseConnection,
    class: DeviceClass,
    id: i32,
    user_id: i32,
) -> Result<Option<Device>, DbErr> {
    Ok(find(db, class, id).await?.filter(|d| d.user_id == user_id))
}

pub async fn rename(db: &DatabaseConnection, device: &Device, name: &str) -> Result<(), DbErr> {
    let name = Expr::value(name.to_owned());
    match device.class {
        DeviceClass::Totp => {
            totp_device::Entity::update_many()
                .col_expr(totp_device::Column::Name, name)
                .filter(totp_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Static => {
            static_device::Entity::update_many()
                .col_expr(static_device::Column::Name, name)
                .filter(static_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Webauthn => {
            webauthn_device::Entity::update_many()
                .col_expr(webauthn_device::Column::Name, name)
                .filter(webauthn_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Email => {
            email_device::Entity::update_many()
                .col_expr(email_device::Column::Name, name)
                .filter(email_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Sms => {
            sms_device::Entity::update_many()
                .col_expr(sms_device::Column::Name, name)
                .filter(sms_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Duo => {}
    }
    Ok(())
}

/// Deletes a device (a static device's tokens go with it, by foreign key).
pub async fn delete(db: &DatabaseConnection, device: &Device) -> Result<(), DbErr> {
    match device.class {
        DeviceClass::Totp => {
            totp_device::Entity::delete_by_id(device.id)
                .exec(db)
                .await?;
        }
        DeviceClass::Static => {
            // Explicit, not only by cascade: SQLite connections may lack `foreign_keys = ON`.
            static_token::Entity::delete_many()
                .filter(static_token::Column::DeviceId.eq(device.id))
                .exec(db)
                .await?;
            static_device::Entity::delete_by_id(device.id)
                .exec(db)
                .await?;
        }
        DeviceClass::Webauthn => {
            webauthn_device::Entity::delete_by_id(device.id)
                .exec(db)
                .await?;
        }
        DeviceClass::Email => {
            email_device::Entity::delete_by_id(device.id)
                .exec(db)
                .await?;
        }
        DeviceClass::Sms => {
            sms_device::Entity::delete_by_id(device.id).exec(db).await?;
        }
        DeviceClass::Duo => {}
    }
    Ok(())
}

/// Records a successful validation with `device` (authenticator validation's picker order and
/// `last_auth_threshold` read it).
pub async fn mark_used(
    db: &DatabaseConnection,
    device: &Device,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    match device.class {
        DeviceClass::Totp => {
            totp_device::Entity::update_many()
                .col_expr(totp_device::Column::LastUsed, Expr::value(now))
                .filter(totp_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Static => {
            static_device::Entity::update_many()
                .col_expr(static_device::Column::LastUsed, Expr::value(now))
                .filter(static_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Webauthn => {
            webauthn_device::Entity::update_many()
                .col_expr(webauthn_device::Column::LastUsed, Expr::value(now))
                .filter(webauthn_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Email => {
            email_device::Entity::update_many()
                .col_expr(email_device::Column::LastUsed, Expr::value(now))
                .filter(email_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Sms => {
            sms_device::Entity::update_many()
                .col_expr(sms_device::Column::LastUsed, Expr::value(now))
                .filter(sms_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
        }
        DeviceClass::Duo => {}
    }
    Ok(())
}

/// What a code did to one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeOutcome {
    Accepted,
    /// The device is throttled after earlier failures: the code was not even looked at.
    Throttled,
    Rejected,
}

fn unix_seconds(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or(0)
}

/// Associated data binding a sealed TOTP key to its owner.
fn totp_aad(user_id: i32) -> Vec<u8> {
    format!("totp_devices.user_id={user_id}").into_bytes()
}

pub fn totp_params(device: &totp_device::Model) -> TotpParams {
    TotpParams {
        digits: u8::try_from(device.digits).unwrap_or(6),
        algorithm: TotpAlgorithm::parse(&device.algorithm).unwrap_or_default(),
        period: u32::try_from(device.period)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(totp::DEFAULT_PERIOD),
    }
}

/// The plain key of a TOTP device; `None` when it does not open (tampered, or the install
/// secret changed), which makes the device match no code.
pub fn totp_key(keys: &MfaKeys, device: &totp_device::Model) -> Option<Vec<u8>> {
    match keys.open(&device.secret, &totp_aad(device.user_id)) {
        Ok(key) => Some(key),
        Err(error) => {
            tracing::warn!(device = device.id, %error, "TOTP device key does not open");
            None
        }
    }
}

/// A new, unconfirmed TOTP device with a fresh key (returned for the `otpauth://` URI).
pub async fn create_totp(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    user_id: i32,
    name: &str,
    params: TotpParams,
    now: DateTime<Utc>,
) -> Result<Option<totp_device::Model>, DbErr> {
    let key = totp::generate_key();
    let Ok(secret) = keys.seal(&key, &totp_aad(user_id)) else {
        return Ok(None);
    };
    let row = totp_device::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        confirmed: Set(false),
        created: Set(now),
        last_used: Set(None),
        secret: Set(secret),
        digits: Set(i32::from(params.digits)),
        algorithm: Set(params.algorithm.as_str().to_owned()),
        period: Set(i32::try_from(params.period).unwrap_or(30)),
        last_t: Set(-1),
        throttling_failure_count: Set(0),
        throttling_failure_timestamp: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Some(row))
}

/// Checks a code against one TOTP device, with throttling and replay protection.
pub async fn verify_totp(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    device: &totp_device::Model,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeOutcome, DbErr> {
    if blocked_until(
        device.throttling_failure_count,
        device.throttling_failure_timestamp,
        now,
    )
    .is_some()
    {
        return Ok(CodeOutcome::Throttled);
    }
    let check = match totp_key(keys, device) {
        Some(key) => totp::check(
            &key,
            totp_params(device),
            code,
            unix_seconds(now),
            device.last_t,
        ),
        None => CodeCheck::Mismatch,
    };
    if let CodeCheck::Accepted { step } = check {
        let taken = totp_device::Entity::update_many()
            .col_expr(totp_device::Column::LastT, Expr::value(step))
            .col_expr(totp_device::Column::ThrottlingFailureCount, Expr::value(0))
            .col_expr(
                totp_device::Column::ThrottlingFailureTimestamp,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(totp_device::Column::Id.eq(device.id))
            .filter(totp_device::Column::LastT.lt(step))
            .exec(db)
            .await?;
        if taken.rows_affected == 1 {
            return Ok(CodeOutcome::Accepted);
        }
        // Another request took this step first: a replay.
    }
    totp_device::Entity::update_many()
        .col_expr(
            totp_device::Column::ThrottlingFailureCount,
            Expr::col(totp_device::Column::ThrottlingFailureCount).add(1),
        )
        .col_expr(
            totp_device::Column::ThrottlingFailureTimestamp,
            Expr::value(Some(now)),
        )
        .filter(totp_device::Column::Id.eq(device.id))
        .exec(db)
        .await?;
    Ok(CodeOutcome::Rejected)
}

pub async fn confirm_totp(db: &DatabaseConnection, device_id: i32) -> Result<(), DbErr> {
    totp_device::Entity::update_many()
        .col_expr(totp_device::Column::Confirmed, Expr::value(true))
        .filter(totp_device::Column::Id.eq(device_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes the user's unconfirmed devices of `class` other than `keep` (abandoned set-ups).
pub async fn delete_unconfirmed<C: ConnectionTrait>(
    db: &C,
    class: DeviceClass,
    user_id: i32,
    keep: Option<i32>,
) -> Result<(), DbErr> {
    let keep = keep.unwrap_or(-1);
    match class {
        DeviceClass::Totp => {
            totp_device::Entity::delete_many()
                .filter(totp_device::Column::UserId.eq(user_id))
                .filter(totp_device::Column::Confirmed.eq(false))
                .filter(totp_device::Column::Id.ne(keep))
                .exec(db)
                .await?;
        }
        DeviceClass::Static => {
            let stale: Vec<i32> = static_device::Entity::find()
                .filter(static_device::Column::UserId.eq(user_id))
                .filter(static_device::Column::Confirmed.eq(false))
                .filter(static_device::Column::Id.ne(keep))
                .all(db)
                .await?
                .into_iter()
                .map(|d| d.id)
                .collect();
            if !stale.is_empty() {
                static_token::Entity::delete_many()
                    .filter(static_token::Column::DeviceId.is_in(stale.clone()))
                    .exec(db)
                    .await?;
                static_device::Entity::delete_many()
                    .filter(static_device::Column::Id.is_in(stale))
                    .exec(db)
                    .await?;
            }
        }
        DeviceClass::Email => {
            email_device::Entity::delete_many()
                .filter(email_device::Column::UserId.eq(user_id))
                .filter(email_device::Column::Confirmed.eq(false))
                .filter(email_device::Column::Id.ne(keep))
                .exec(db)
                .await?;
        }
        DeviceClass::Sms => {
            sms_device::Entity::delete_many()
                .filter(sms_device::Column::UserId.eq(user_id))
                .filter(sms_device::Column::Confirmed.eq(false))
                .filter(sms_device::Column::Id.ne(keep))
                .exec(db)
                .await?;
        }
        DeviceClass::Webauthn | DeviceClass::Duo => {}
    }
    Ok(())
}

/// A new, unconfirmed static device holding `tokens` (stored hashed).
pub async fn create_static(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    user_id: i32,
    name: &str,
    tokens: &[String],
    now: DateTime<Utc>,
) -> Result<static_device::Model, DbErr> {
    let device = static_device::ActiveModel {
        user_id: Set(user_id),
        name: Set(name.to_owned()),
        confirmed: Set(false),
        created: Set(now),
        last_used: Set(None),
        throttling_failure_count: Set(0),
        throttling_failure_timestamp: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    for token in tokens {
        static_token::ActiveModel {
            device_id: Set(device.id),
            token_hash: Set(keys.token_hash(token)),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(device)
}

pub async fn confirm_static(db: &DatabaseConnection, device_id: i32) -> Result<(), DbErr> {
    static_device::Entity::update_many()
        .col_expr(static_device::Column::Confirmed, Expr::value(true))
        .filter(static_device::Column::Id.eq(device_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Checks a code against one static device; a matching token is used up.
pub async fn verify_static(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    device: &static_device::Model,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeOutcome, DbErr> {
    use subtle::ConstantTimeEq;
    if blocked_until(
        device.throttling_failure_count,
        device.throttling_failure_timestamp,
        now,
    )
    .is_some()
    {
        return Ok(CodeOutcome::Throttled);
    }
    let hash = keys.token_hash(code.trim());
    let tokens = static_token::Entity::find()
        .filter(static_token::Column::DeviceId.eq(device.id))
        .all(db)
        .await?;
    let matched = tokens
        .iter()
        .find(|t| bool::from(t.token_hash.as_bytes().ct_eq(hash.as_bytes())));
    if let Some(token) = matched {
        // Deleting the row is what makes the token single-use, also under concurrency.
        let used = static_token::Entity::delete_by_id(token.id)
            .exec(db)
            .await?;
        if used.rows_affected == 1 {
            static_device::Entity::update_many()
                .col_expr(
                    static_device::Column::ThrottlingFailureCount,
                    Expr::value(0),
                )
                .col_expr(
                    static_device::Column::ThrottlingFailureTimestamp,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(static_device::Column::Id.eq(device.id))
                .exec(db)
                .await?;
            return Ok(CodeOutcome::Accepted);
        }
    }
    static_device::Entity::update_many()
        .col_expr(
            static_device::Column::ThrottlingFailureCount,
            Expr::col(static_device::Column::ThrottlingFailureCount).add(1),
        )
        .col_expr(
            static_device::Column::ThrottlingFailureTimestamp,
            Expr::value(Some(now)),
        )
        .filter(static_device::Column::Id.eq(device.id))
        .exec(db)
        .await?;
    Ok(CodeOutcome::Rejected)
}

/// Tries `code` on each device of a table whose codes are sent (email, SMS): the device it
/// was accepted by, if any; `throttled` is set when a device refused to look.
async fn try_sent_code<E>(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    devices: Vec<E::Model>,
    code: &str,
    now: DateTime<Utc>,
    throttled: &mut bool,
) -> Result<Option<Device>, DbErr>
where
    E: super::sent_codes::SentCodeDevice,
    E::Model: Into<Device>,
{
    for device in devices {
        // Only a device with a pending code is tried: one without cannot match, and counting
        // a failure against it would throttle a device that was never sent a code.
        if E::pending(&device).token_hash.is_none() {
            continue;
        }
        match super::sent_codes::verify::<E>(db, keys, &device, code, now).await? {
            CodeOutcome::Accepted => return Ok(Some(device.into())),
            CodeOutcome::Throttled => *throttled = true,
            CodeOutcome::Rejected => {}
        }
    }
    Ok(None)
}

/// What happened to a code tried against all of a user's code-based devices.
#[derive(Clone, Debug, PartialEq)]
pub enum CodeVerification {
    Accepted(Device),
    /// No device took it; `throttled` when at least one device refused to look.
    Rejected {
        throttled: bool,
    },
}

/// Tries `code` against every confirmed code-based device of the user whose class is in
/// `classes`, in class order (static, TOTP, then email), until one accepts it.
pub async fn verify_code(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    user_id: i32,
    classes: &[DeviceClass],
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeVerification, DbErr> {
    let mut throttled = false;
    if classes.contains(&DeviceClass::Static) {
        let devices = static_device::Entity::find()
            .filter(static_device::Column::UserId.eq(user_id))
            .filter(static_device::Column::Confirmed.eq(true))
            .order_by_asc(static_device::Column::Id)
            .all(db)
            .await?;
        for device in devices {
            match verify_static(db, keys, &device, code, now).await? {
                CodeOutcome::Accepted => return Ok(CodeVerification::Accepted(device.into())),
                CodeOutcome::Throttled => throttled = true,
                CodeOutcome::Rejected => {}
            }
        }
    }
    if classes.contains(&DeviceClass::Totp) {
        let devices = totp_device::Entity::find()
            .filter(totp_device::Column::UserId.eq(user_id))
            .filter(totp_device::Column::Confirmed.eq(true))
            .order_by_asc(totp_device::Column::Id)
            .all(db)
            .await?;
        for device in devices {
            match verify_totp(db, keys, &device, code, now).await? {
                CodeOutcome::Accepted => return Ok(CodeVerification::Accepted(device.into())),
                CodeOutcome::Throttled => throttled = true,
                CodeOutcome::Rejected => {}
            }
        }
    }
    if classes.contains(&DeviceClass::Email) {
        let devices = email_device::Entity::find()
            .filter(email_device::Column::UserId.eq(user_id))
            .filter(email_device::Column::Confirmed.eq(true))
            .order_by_asc(email_device::Column::Id)
            .all(db)
            .await?;
        let tried =
            try_sent_code::<email_device::Entity>(db, keys, devices, code, now, &mut throttled);
        if let Some(device) = tried.await? {
            return Ok(CodeVerification::Accepted(device));
        }
    }
    if classes.contains(&DeviceClass::Sms) {
        let devices = sms_device::Entity::find()
            .filter(sms_device::Column::UserId.eq(user_id))
            .filter(sms_device::Column::Confirmed.eq(true))
            .order_by_asc(sms_device::Column::Id)
            .all(db)
            .await?
            .into_iter()
            // A verify-only number is never a way in.
            .filter(|d| !super::sms::is_hashed(&d.phone_number))
            .collect();
        let tried =
            try_sent_code::<sms_device::Entity>(db, keys, devices, code, now, &mut throttled);
        if let Some(device) = tried.await? {
            return Ok(CodeVerification::Accepted(device));
        }
    }
    Ok(CodeVerification::Rejected { throttled })
}
