//! TOTP authenticator setup: shows an `otpauth://` URI (the page renders it as a QR code) and
//! confirms the new device once the person types a code from their app. The unconfirmed device
//! lives in the database from the first render (key sealed, see `mfa::crypto`), so a reload
//! shows the same key and failed codes are throttled like on any device.

use app::protocol::{AuthenticatorTotpChallenge, ChallengeKind, ResponseErrors};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::mfa::devices::{self, CodeOutcome, DeviceClass};
use crate::mfa::totp::{self, TotpAlgorithm, TotpParams};
use crate::store::{totp_device, user};

/// The unconfirmed device being set up in this flow (a plan-context key).
const DEVICE_KEY: &str = "goauthentik.io/stages/authenticator_totp/device";
pub const DEVICE_NAME: &str = "TOTP Authenticator";
pub const CODE_MISMATCH: &str = "Code does not match";

/// The `otpauth://` URI of `device` (owned by `user`), `None` if its key cannot be opened.
fn config_url_of(
    settings: &crate::engine::EngineSettings,
    user: &user::Model,
    device: &totp_device::Model,
) -> Option<String> {
    let key = devices::totp_key(&settings.mfa_keys, device)?;
    Some(totp::config_url(
        &settings.brand_title,
        &user.username,
        &key,
        devices::totp_params(device),
    ))
}

/// The QR code of the TOTP set-up in progress in the session's flow, as SVG markup (the page
/// shows it as an image, `GET /-/flows/totp-qr.svg`): rendered here so that the browser bundle
/// carries no QR encoder, and the key never travels in a URL. `None` when the session's flow
/// is not setting up a TOTP device.
pub async fn setup_qr_svg(
    services: &crate::engine::EngineServices,
    session_id: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> EngineResult<Option<String>> {
    let Some(row) = crate::store::flow_plan::Entity::find_by_id(session_id)
        .one(&services.db)
        .await?
        .filter(|row| row.expires_at > now)
    else {
        return Ok(None);
    };
    let Ok(plan) = serde_json::from_value::<crate::engine::plan::FlowPlan>(row.plan) else {
        return Ok(None);
    };
    let Some(id) = plan.context.get_extra::<i32>(DEVICE_KEY) else {
        return Ok(None);
    };
    let Some(device) = totp_device::Entity::find_by_id(id)
        .one(&services.db)
        .await?
        .filter(|d| !d.confirmed)
    else {
        return Ok(None);
    };
    let Some(owner) = user::Entity::find_by_id(device.user_id)
        .one(&services.db)
        .await?
    else {
        return Ok(None);
    };
    Ok(config_url_of(&services.settings, &owner, &device).and_then(|url| qr_svg(&url)))
}

/// The QR code of `text` as SVG markup (without the XML prolog), `None` when the text is too
/// long for a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    image.find("<svg").map(|start| image[start..].to_owned())
}

/// authentik allows 6 or 8 digits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum TotpDigits {
    #[default]
    Six,
    Eight,
}

impl TryFrom<u8> for TotpDigits {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, String> {
        match value {
            6 => Ok(Self::Six),
            8 => Ok(Self::Eight),
            other => Err(format!("digits must be 6 or 8, not {other}")),
        }
    }
}

impl From<TotpDigits> for u8 {
    fn from(value: TotpDigits) -> u8 {
        match value {
            TotpDigits::Six => 6,
            TotpDigits::Eight => 8,
        }
    }
}

/// authentik's API sends the digits as the text "6" or "8" (see `admin_stages::to_wire`).
impl schemars::JsonSchema for TotpDigits {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TotpDigits".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": ["6", "8"] })
    }
}

fn default_period() -> u32 {
    totp::DEFAULT_PERIOD
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuthenticatorTotpStage {
    pub digits: TotpDigits,
    /// Shown instead of the stage name where people pick a set-up stage.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// The flow a signed-in user runs to set this authenticator up.
    #[serde(default)]
    pub configure_flow: Option<Uuid>,
    /// keyflow extension (authentik always uses SHA1): most apps silently ignore other values.
    #[serde(default)]
    pub algorithm: TotpAlgorithm,
    /// keyflow extension (authentik always uses 30 s).
    #[serde(default = "default_period")]
    pub period: u32,
}

impl Default for AuthenticatorTotpStage {
    fn default() -> Self {
        Self {
            digits: TotpDigits::Six,
            friendly_name: None,
            configure_flow: None,
            algorithm: TotpAlgorithm::Sha1,
            period: totp::DEFAULT_PERIOD,
        }
    }
}

/// Who a set-up stage configures a device for.
pub(crate) enum SetupUser {
    User(Box<user::Model>),
    /// Nobody is signed in or pending: authentik skips the stage.
    Nobody,
    /// An unsaved stand-in user (unknown identifier): nothing can be saved for it.
    Unsaved,
}

impl SetupUser {
    /// The user, or how the stage ends without one (skipped for nobody, denied for a
    /// stand-in).
    // Only `Passed` and `Denied` are returned; the large `Show` variant never is.
    #[allow(clippy::result_large_err)]
    pub(crate) fn or_outcome(self) -> Result<user::Model, StageOutcome> {
        match self {
            SetupUser::User(user) => Ok(*user),
            SetupUser::Nobody => Err(StageOutcome::Passed),
            SetupUser::Unsaved => Err(StageOutcome::Denied(None)),
        }
    }
}

pub(crate) async fn setup_user(cx: &StageCx<'_>) -> EngineResult<SetupUser> {
    if cx
        .context
        .pending_user
        .as_ref()
        .is_some_and(|u| u.pk.is_none())
    {
        return Ok(SetupUser::Unsaved);
    }
    Ok(match cx.pending_or_session_user().await? {
        Some(user) => SetupUser::User(Box::new(user)),
        None => SetupUser::Nobody,
    })
}

impl AuthenticatorTotpStage {
    fn params(&self) -> TotpParams {
        TotpParams {
            digits: self.digits.into(),
            algorithm: self.algorithm,
            period: if self.period == 0 {
                totp::DEFAULT_PERIOD
            } else {
                self.period
            },
        }
    }

    /// The device this flow is setting up: the one remembered in the context, else a new one.
    async fn pending_device(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<Option<totp_device::Model>> {
        if let Some(id) = cx.context.get_extra::<i32>(DEVICE_KEY) {
            let existing = totp_device::Entity::find_by_id(id)
                .one(cx.db())
                .await?
                .filter(|d| d.user_id == user.id && !d.confirmed);
            if existing.is_some() {
                return Ok(existing);
            }
        }
        devices::delete_unconfirmed(cx.db(), DeviceClass::Totp, user.id, None).await?;
        let created = devices::create_totp(
            cx.db(),
            &cx.services.settings.mfa_keys,
            user.id,
            DEVICE_NAME,
            self.params(),
            cx.now,
        )
        .await?;
        if let Some(device) = &created {
            cx.context.set_extra(DEVICE_KEY, device.id);
        }
        Ok(created)
    }

    fn challenge_kind(
        &self,
        cx: &StageCx<'_>,
        user: &user::Model,
        device: &totp_device::Model,
    ) -> Option<ChallengeKind> {
        let config_url = config_url_of(&cx.services.settings, user, device)?;
        Some(ChallengeKind::AuthenticatorTotp(
            AuthenticatorTotpChallenge {
                user: cx.pending_user_info(),
                config_url,
            },
        ))
    }

    /// Resolves user and device, or says how the stage ends without them.
    async fn prepare(
        &self,
        cx: &mut StageCx<'_>,
    ) -> EngineResult<Result<(user::Model, totp_device::Model, ChallengeKind), StageOutcome>> {
        let user = match setup_user(cx).await?.or_outcome() {
            Ok(user) => user,
            Err(outcome) => return Ok(Err(outcome)),
        };
        let Some(device) = self.pending_device(cx, &user).await? else {
            return Ok(Err(StageOutcome::Denied(None)));
        };
        match self.challenge_kind(cx, &user, &device) {
            Some(kind) => Ok(Ok((user, device, kind))),
            None => Ok(Err(StageOutcome::Denied(None))),
        }
    }
}

/// A code as typed: digits only (spaces ignored). Numbers sent as JSON integers lost their
/// leading zeros, so shorter codes are padded back to the device's length.
pub(crate) fn normalise_code(raw: &str, digits: usize) -> Option<String> {
    let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{code:0>digits$}"))
}

#[async_trait::async_trait]
impl Stage for AuthenticatorTotpStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        Ok(match self.prepare(cx).await? {
            Ok((_, _, kind)) => StageOutcome::Show(kind),
            Err(outcome) => outcome,
        })
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let (user, device, kind) = match self.prepare(cx).await? {
            Ok(prepared) => prepared,
            Err(outcome) => return Ok(outcome),
        };
        let mut fields = ResponseFields::new(response);
        let code = fields.required_string("code");
        if let Err(errors) = fields.finish() {
            return Ok(StageOutcome::Invalid(kind, errors));
        }
        let digits = usize::try_from(device.digits).unwrap_or(6);
        let Some(code) = code.as_deref().and_then(|c| normalise_code(c, digits)) else {
            let errors = ResponseErrors::single("code", "A valid integer is required.", "invalid");
            return Ok(StageOutcome::Invalid(kind, errors));
        };
        let outcome = devices::verify_totp(
            cx.db(),
            &cx.services.settings.mfa_keys,
            &device,
            &code,
            cx.now,
        )
        .await?;
        if outcome != CodeOutcome::Accepted {
            let errors = ResponseErrors::single("code", CODE_MISMATCH, "invalid");
            return Ok(StageOutcome::Invalid(kind, errors));
        }
        devices::confirm_totp(cx.db(), device.id).await?;
        cx.context.remove_extra(DEVICE_KEY);
        super::device_events::record_device_created(
            cx,
            &user,
            DeviceClass::Totp,
            device.id,
            &device.name,
        )
        .await?;
        Ok(StageOutcome::Passed)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_qr_code_is_svg() {
        let svg = super::qr_svg("otpauth://totp/keyflow:ann?secret=GEZDGNBVGY3TQOJQ").unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<path") || svg.contains("<rect"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(
            super::qr_svg(&"x".repeat(8000)),
            None,
            "too long for a QR code"
        );
    }

    use super::*;

    #[test]
    fn digits_are_six_or_eight() {
        let stage: AuthenticatorTotpStage =
            serde_json::from_value(serde_json::json!({"digits": 8})).unwrap();
        assert_eq!(stage.digits, TotpDigits::Eight);
        assert_eq!(stage.algorithm, TotpAlgorithm::Sha1);
        assert_eq!(stage.period, 30);
        assert!(
            serde_json::from_value::<AuthenticatorTotpStage>(serde_json::json!({"digits": 7}))
                .is_err()
        );
        assert_eq!(serde_json::to_value(&stage).unwrap()["digits"], 8);
    }

    #[test]
    fn codes_are_normalised() {
        assert_eq!(normalise_code("123 456", 6).as_deref(), Some("123456"));
        assert_eq!(normalise_code("12345", 6).as_deref(), Some("012345"));
        assert_eq!(normalise_code("12a456", 6), None);
        assert_eq!(normalise_code(" ", 6), None);
    }
}
