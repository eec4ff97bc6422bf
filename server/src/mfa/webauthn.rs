//! WebAuthn ceremonies on top of `webauthn-rs-core`: the relying party of a request, building
//! the options the browser passes to `navigator.credentials.create/get`, and verifying what it
//! sends back. No database and no flow context here (see `webauthn_assertion` and the setup stage
//! for those), so everything below is a plain function that tests can drive.
//!
//! ```text
//! server                                   browser / authenticator
//! start_registration ──options──────────▶ navigator.credentials.create
//!   state kept server-side (flow context)
//! finish_registration ◀──attestation───── (RegisterPublicKeyCredential JSON)
//!   state removed before verifying: single use
//! start_authentication ─options─────────▶ navigator.credentials.get
//! finish_authentication ◀─assertion────── (PublicKeyCredential JSON)
//!   counter and backup flags written back to the stored credential
//! ```
//!
//! Why the core crate and not the `webauthn-rs` wrapper: authentik's stages let an administrator
//! choose user verification, resident-key requirement and attachment; the wrapper fixes those
//! per ceremony kind. The invariants the wrapper would keep are kept here instead: state never
//! leaves the server, it is used once, the origin is the request's own, the counter is updated.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;
use thiserror::Error;
use url::Url;
use uuid::Uuid;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationResult, AuthenticationState,
    AuthenticatorAttachment as CoreAttachment, COSEAlgorithm, Credential, PublicKeyCredential,
    PublicKeyCredentialHints, RegisterPublicKeyCredential, RegistrationState,
    ResidentKeyRequirement as CoreResidentKey, UserVerificationPolicy,
};
use webauthn_rs_core::WebauthnCore;

use crate::engine::request::RequestInfo;

/// How long the browser may take (authentik's `timeout: 60000`).
pub const CEREMONY_TIMEOUT: Duration = Duration::from_secs(60);

/// authentik's "unknown device types" entry of a device-type allow-list.
pub const UNKNOWN_DEVICE_TYPE: Uuid = Uuid::nil();

/// A ceremony that could not be completed.
#[derive(Debug, Error)]
pub enum CeremonyError {
    #[error("the request has no usable origin: {0}")]
    Origin(String),
    #[error("malformed credential: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("{0}")]
    Webauthn(#[from] WebauthnError),
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserVerification {
    Required,
    #[default]
    Preferred,
    Discouraged,
}

impl UserVerification {
    fn policy(self) -> UserVerificationPolicy {
        match self {
            Self::Required => UserVerificationPolicy::Required,
            Self::Preferred => UserVerificationPolicy::Preferred,
            Self::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
        }
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResidentKeyRequirement {
    Discouraged,
    #[default]
    Preferred,
    Required,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorAttachment {
    Platform,
    CrossPlatform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Hint {
    SecurityKey,
    ClientDevice,
    Hybrid,
}

impl Hint {
    fn core(self) -> PublicKeyCredentialHints {
        match self {
            Self::SecurityKey => PublicKeyCredentialHints::SecurityKey,
            Self::ClientDevice => PublicKeyCredentialHints::ClientDevice,
            Self::Hybrid => PublicKeyCredentialHints::Hybrid,
        }
    }
}

fn core_hints(hints: &[Hint]) -> Option<Vec<PublicKeyCredentialHints>> {
    (!hints.is_empty()).then(|| hints.iter().map(|h| h.core()).collect())
}

/// The attachment to ask for: the configured one, else inferred from the hints as authentik does
/// (only roaming hints: cross-platform; only `client-device`: platform; mixed: either).
pub fn effective_attachment(
    configured: Option<AuthenticatorAttachment>,
    hints: &[Hint],
) -> Option<AuthenticatorAttachment> {
    if configured.is_some() || hints.is_empty() {
        return configured;
    }
    if hints
        .iter()
        .all(|h| matches!(h, Hint::SecurityKey | Hint::Hybrid))
    {
        Some(AuthenticatorAttachment::CrossPlatform)
    } else if hints.iter().all(|h| *h == Hint::ClientDevice) {
        Some(AuthenticatorAttachment::Platform)
    } else {
        None
    }
}

/// The relying party for one request: its id is the host without port, and the only origin
/// accepted in client data is the request's own `scheme://host[:port]`.
pub struct RelyingParty {
    core: WebauthnCore,
    id: String,
}

impl RelyingParty {
    pub fn for_request(name: &str, request: &RequestInfo) -> Result<Self, CeremonyError> {
        let id = request.host_without_port().to_owned();
        if id.is_empty() {
            return Err(CeremonyError::Origin("no Host header".into()));
        }
        let origin = Url::parse(&request.origin())
            .map_err(|e| CeremonyError::Origin(format!("{}: {e}", request.origin())))?;
        let core = WebauthnCore::new_unsafe_experts_only(
            name,
            &id,
            vec![origin],
            CEREMONY_TIMEOUT,
            None,
            None,
        );
        Ok(Self { core, id })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Who the new credential is for. `handle` is the stable, non-personal user handle the
/// authenticator stores with a discoverable credential (and hands back on passkey login).
pub struct CredentialOwner<'a> {
    pub handle: &'a [u8],
    pub name: &'a str,
    pub display_name: &'a str,
}

/// The setup stage's choices.
#[derive(Clone, Debug, Default)]
pub struct RegistrationSettings {
    pub user_verification: UserVerification,
    pub resident_key: ResidentKeyRequirement,
    pub attachment: Option<AuthenticatorAttachment>,
    pub hints: Vec<Hint>,
}

/// The algorithms offered, most preferred first (those webauthn-rs can verify).
fn credential_algorithms() -> Vec<COSEAlgorithm> {
    vec![
        COSEAlgorithm::ES256,
        COSEAlgorithm::EDDSA,
        COSEAlgorithm::ES384,
        COSEAlgorithm::ES521,
        COSEAlgorithm::PS256,
        COSEAlgorithm::PS384,
        COSEAlgorithm::PS512,
        COSEAlgorithm::RS256,
        COSEAlgorithm::RS384,
        COSEAlgorithm::RS512,
    ]
}

/// PublicKeyCredentialCreationOptions (as JSON, binary fields base64url) and the state to keep.
/// `exclude` are the user's existing credential ids, so the same authenticator is not added twice.
pub fn start_registration(
    rp: &RelyingParty,
    owner: &CredentialOwner<'_>,
    exclude: Vec<Vec<u8>>,
    settings: &RegistrationSettings,
) -> Result<(Value, RegistrationState), CeremonyError> {
    let attachment = effective_attachment(settings.attachment, &settings.hints).map(|a| match a {
        AuthenticatorAttachment::Platform => CoreAttachment::Platform,
        AuthenticatorAttachment::CrossPlatform => CoreAttachment::CrossPlatform,
    });
    let builder = rp
        .core
        .new_challenge_register_builder(owner.handle, owner.name, owner.display_name)?
        .attestation(AttestationConveyancePreference::Direct)
        .user_verification_policy(settings.user_verification.policy())
        .exclude_credentials(Some(exclude))
        .credential_algorithms(credential_algorithms())
        .require_resident_key(settings.resident_key == ResidentKeyRequirement::Required)
        .authenticator_attachment(attachment)
        .hints(core_hints(&settings.hints));
    let (mut options, state) = rp.core.generate_challenge_register(builder)?;
    // The builder only knows "required or not"; the browser is told the exact preference.
    if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(match settings.resident_key {
            ResidentKeyRequirement::Discouraged => CoreResidentKey::Discouraged,
            ResidentKeyRequirement::Preferred => CoreResidentKey::Preferred,
            ResidentKeyRequirement::Required => CoreResidentKey::Required,
        });
    }
    Ok((serde_json::to_value(&options.public_key)?, state))
}

/// A verified new credential and what the attestation says about the authenticator.
pub struct RegisteredCredential {
    pub credential: Credential,
    /// `None` when the attestation object carried no authenticator data to read it from.
    pub aaguid: Option<Uuid>,
    /// SHA-256 (hex) of the attestation certificate, when there is one.
    pub certificate_fingerprint: Option<String>,
}

/// Verifies the browser's registration response against the kept state.
pub fn finish_registration(
    rp: &RelyingParty,
    response: &Value,
    state: &RegistrationState,
) -> Result<RegisteredCredential, CeremonyError> {
    let response: RegisterPublicKeyCredential = serde_json::from_value(response.clone())?;
    let credential = rp.core.register_credential(&response, state, None)?;
    let facts = AttestationFacts::read(&response.response.attestation_object);
    Ok(RegisteredCredential {
        credential,
        aaguid: facts.aaguid,
        certificate_fingerprint: facts.certificate_fingerprint,
    })
}

/// What the server asks for when authenticating.
#[derive(Clone, Debug, Default)]
pub struct AuthenticationSettings {
    pub user_verification: UserVerification,
    pub hints: Vec<Hint>,
}

/// PublicKeyCredentialRequestOptions (JSON) and the state to keep. An empty `credentials` list
/// asks for a discoverable credential (passkey login without a user).
pub fn start_authentication(
    rp: &RelyingParty,
    credentials: Vec<Credential>,
    settings: &AuthenticationSettings,
) -> Result<(Value, AuthenticationState), CeremonyError> {
    let builder = rp
        .core
        .new_challenge_authenticate_builder(credentials, Some(settings.user_verification.policy()))?
        .hints(core_hints(&settings.hints));
    let (options, state) = rp.core.generate_challenge_authenticate(builder)?;
    Ok((serde_json::to_value(&options.public_key)?, state))
}

/// Parses an assertion. `lenient_type` fills a missing `type` with `public-key` (authentik does
/// so for Microsoft's "MinuteMaid" sign-in web view, which leaves it out).
pub fn parse_assertion(
    response: &Value,
    lenient_type: bool,
) -> Result<PublicKeyCredential, CeremonyError> {
    let mut response = response.clone();
    if let (true, Value::Object(map)) = (lenient_type, &mut response) {
        map.entry("type")
            .or_insert_with(|| Value::String("public-key".into()));
    }
    Ok(serde_json::from_value(response)?)
}

/// Verifies an assertion made with `credential` (looked up by the caller from the assertion's
/// credential id) against the kept state.
pub fn finish_authentication(
    rp: &RelyingParty,
    assertion: &PublicKeyCredential,
    state: &AuthenticationState,
    credential: &Credential,
) -> Result<AuthenticationResult, CeremonyError> {
    Ok(rp
        .core
        .authenticate_single_credential(assertion, state, credential)?)
}

/// Writes the counter and backup flags of a successful assertion back into the credential.
pub fn apply_authentication(credential: &mut Credential, result: &AuthenticationResult) {
    if result.counter() > credential.counter {
        credential.counter = result.counter();
    }
    credential.backup_state = result.backup_state();
    credential.backup_eligible = result.backup_eligible();
}

/// May an authenticator of this type be registered? `aaguid` is `None` when it could not be
/// read. Without a FIDO metadata import no AAGUID is a "known" type, so listing
/// [`UNKNOWN_DEVICE_TYPE`] admits every authenticator that reports one.
pub fn registration_type_allowed(aaguid: Option<Uuid>, allowed: &[Uuid]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    match aaguid {
        None => false,
        Some(aaguid) => allowed.contains(&aaguid) || allowed.contains(&UNKNOWN_DEVICE_TYPE),
    }
}

/// May a registered device of this type be used to log in? Devices without a type (all-zero
/// AAGUID) are kept, as authentik keeps devices without a device type.
pub fn authentication_type_allowed(aaguid: Uuid, allowed: &[Uuid]) -> bool {
    allowed.is_empty()
        || aaguid.is_nil()
        || allowed.contains(&aaguid)
        || allowed.contains(&UNKNOWN_DEVICE_TYPE)
}

/// The parts of an attestation object webauthn-rs does not hand back for every format.
#[derive(Debug, Default, PartialEq)]
struct AttestationFacts {
    aaguid: Option<Uuid>,
    certificate_fingerprint: Option<String>,
}

impl AttestationFacts {
    /// authData layout: rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) | … ; the AAGUID
    /// is there only when the "attested credential data" flag (0x40) is set.
    fn read(attestation_object: &[u8]) -> Self {
        use serde_cbor_2::Value as Cbor;
        let Ok(Cbor::Map(map)) = serde_cbor_2::from_slice::<Cbor>(attestation_object) else {
            return Self::default();
        };
        let field = |name: &str| map.get(&Cbor::Text(name.to_owned()));
        let aaguid = match field("authData") {
            Some(Cbor::Bytes(data)) if data.len() >= 53 && data[32] & 0x40 != 0 => {
                Uuid::from_slice(&data[37..53]).ok()
            }
            _ => None,
        };
        let certificate_fingerprint = match field("attStmt") {
            Some(Cbor::Map(statement)) => match statement.get(&Cbor::Text("x5c".into())) {
                Some(Cbor::Array(chain)) => match chain.first() {
                    Some(Cbor::Bytes(der)) => Some(hex::encode(Sha256::digest(der))),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        Self {
            aaguid,
            certificate_fingerprint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_cbor_2::Value as Cbor;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn request(host: &str) -> RequestInfo {
        RequestInfo {
            host: host.into(),
            scheme: "http".into(),
            ..Default::default()
        }
    }

    fn owner() -> CredentialOwner<'static> {
        CredentialOwner {
            handle: b"2d6b5ac0-user",
            name: "alice",
            display_name: "Alice",
        }
    }

    #[test]
    fn relying_party_is_the_host_without_port() {
        let rp = RelyingParty::for_request("keyflow", &request("localhost:3000")).unwrap();
        assert_eq!(rp.id(), "localhost");
        assert!(RelyingParty::for_request("keyflow", &request("")).is_err());
    }

    #[test]
    fn registration_options_have_authentiks_shape() {
        let rp = RelyingParty::for_request("keyflow", &request("localhost:3000")).unwrap();
        let settings = RegistrationSettings::default();
        let (options, _) = start_registration(&rp, &owner(), vec![], &settings).unwrap();
        assert_eq!(options["rp"], json!({"name": "keyflow", "id": "localhost"}));
        assert_eq!(options["user"]["name"], "alice");
        assert_eq!(options["user"]["displayName"], "Alice");
        assert_eq!(options["timeout"], 60000);
        assert_eq!(options["attestation"], "direct");
        assert_eq!(options["excludeCredentials"], json!([]));
        assert_eq!(
            options["authenticatorSelection"],
            json!({"residentKey": "preferred", "requireResidentKey": false,
                   "userVerification": "preferred"})
        );
        assert!(options.get("hints").is_none());
        let algs: Vec<i64> = options["pubKeyCredParams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["alg"].as_i64().unwrap())
            .collect();
        assert_eq!(algs[0], -7);
        assert!(algs.contains(&-8) && algs.contains(&-257));
        // 32 random bytes, base64url without padding.
        assert_eq!(options["challenge"].as_str().unwrap().len(), 43);
    }

    #[test]
    fn registration_options_follow_the_settings_and_exclude_known_credentials() {
        let rp = RelyingParty::for_request("keyflow", &request("id.example.com")).unwrap();
        let settings = RegistrationSettings {
            user_verification: UserVerification::Required,
            resident_key: ResidentKeyRequirement::Required,
            attachment: None,
            hints: vec![Hint::SecurityKey],
        };
        let (options, _) =
            start_registration(&rp, &owner(), vec![vec![1, 2, 3]], &settings).unwrap();
        assert_eq!(
            options["authenticatorSelection"],
            json!({"authenticatorAttachment": "cross-platform", "residentKey": "required",
                   "requireResidentKey": true, "userVerification": "required"})
        );
        assert_eq!(options["hints"], json!(["security-key"]));
        assert_eq!(
            options["excludeCredentials"],
            json!([{"type": "public-key", "id": "AQID"}])
        );
    }

    #[test]
    fn every_ceremony_gets_a_fresh_challenge() {
        let rp = RelyingParty::for_request("keyflow", &request("localhost")).unwrap();
        let settings = AuthenticationSettings::default();
        let (first, _) = start_authentication(&rp, vec![], &settings).unwrap();
        let (second, _) = start_authentication(&rp, vec![], &settings).unwrap();
        assert_ne!(first["challenge"], second["challenge"]);
        assert_eq!(first["allowCredentials"], json!([]));
        assert_eq!(first["rpId"], "localhost");
        assert_eq!(first["userVerification"], "preferred");
    }

    #[test]
    fn attachment_is_inferred_from_hints_like_authentik() {
        use AuthenticatorAttachment::*;
        assert_eq!(effective_attachment(None, &[]), None);
        assert_eq!(
            effective_attachment(None, &[Hint::SecurityKey, Hint::Hybrid]),
            Some(CrossPlatform)
        );
        assert_eq!(
            effective_attachment(None, &[Hint::ClientDevice]),
            Some(Platform)
        );
        assert_eq!(
            effective_attachment(None, &[Hint::ClientDevice, Hint::Hybrid]),
            None
        );
        assert_eq!(
            effective_attachment(Some(Platform), &[Hint::SecurityKey]),
            Some(Platform)
        );
    }

    #[test]
    fn garbage_registration_is_a_malformed_credential_not_a_panic() {
        let rp = RelyingParty::for_request("keyflow", &request("localhost")).unwrap();
        let (_, state) =
            start_registration(&rp, &owner(), vec![], &RegistrationSettings::default()).unwrap();
        for bad in [json!(null), json!({"id": 1}), json!("x")] {
            assert!(matches!(
                finish_registration(&rp, &bad, &state),
                Err(CeremonyError::Malformed(_))
            ));
        }
    }

    #[test]
    fn minute_maid_assertions_get_a_default_type() {
        let assertion = json!({
            "id": "AQID", "rawId": "AQID",
            "response": {"authenticatorData": "AA", "clientDataJSON": "AA", "signature": "AA"}
        });
        assert!(parse_assertion(&assertion, false).is_err());
        assert_eq!(
            parse_assertion(&assertion, true).unwrap().type_,
            "public-key"
        );
    }

    #[test]
    fn registration_device_types_follow_the_allow_list() {
        let yubikey = Uuid::from_u128(0xcb69481e_8ff7_4039_93ec_0a2729a154a8);
        let other = Uuid::from_u128(7);
        assert!(registration_type_allowed(None, &[]));
        assert!(registration_type_allowed(Some(other), &[]));
        assert!(!registration_type_allowed(None, &[yubikey]));
        assert!(registration_type_allowed(Some(yubikey), &[yubikey]));
        assert!(!registration_type_allowed(Some(other), &[yubikey]));
        assert!(registration_type_allowed(
            Some(other),
            &[yubikey, UNKNOWN_DEVICE_TYPE]
        ));
    }

    #[test]
    fn devices_without_a_type_stay_usable_for_login() {
        let yubikey = Uuid::from_u128(1);
        assert!(authentication_type_allowed(Uuid::nil(), &[yubikey]));
        assert!(authentication_type_allowed(yubikey, &[yubikey]));
        assert!(!authentication_type_allowed(Uuid::from_u128(2), &[yubikey]));
        assert!(authentication_type_allowed(Uuid::from_u128(2), &[]));
    }

    fn attestation_object(auth_data: Vec<u8>, x5c: Option<Vec<u8>>) -> Vec<u8> {
        let mut statement = BTreeMap::new();
        if let Some(cert) = x5c {
            statement.insert(
                Cbor::Text("x5c".into()),
                Cbor::Array(vec![Cbor::Bytes(cert)]),
            );
        }
        let mut map = BTreeMap::new();
        map.insert(Cbor::Text("fmt".into()), Cbor::Text("packed".into()));
        map.insert(Cbor::Text("attStmt".into()), Cbor::Map(statement));
        map.insert(Cbor::Text("authData".into()), Cbor::Bytes(auth_data));
        serde_cbor_2::to_vec(&Cbor::Map(map)).unwrap()
    }

    #[test]
    fn aaguid_and_certificate_fingerprint_are_read_from_the_attestation() {
        let aaguid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let mut auth_data = vec![0u8; 32];
        auth_data.push(0x41); // user present + attested credential data
        auth_data.extend([0, 0, 0, 1]);
        auth_data.extend(aaguid.as_bytes());
        auth_data.extend([0, 0]);
        let facts = AttestationFacts::read(&attestation_object(
            auth_data.clone(),
            Some(b"der".to_vec()),
        ));
        assert_eq!(facts.aaguid, Some(aaguid));
        assert_eq!(
            facts.certificate_fingerprint.as_deref(),
            Some(hex::encode(Sha256::digest(b"der")).as_str())
        );
        // Without the attested-credential-data flag there is no AAGUID to read.
        auth_data[32] = 0x01;
        let facts = AttestationFacts::read(&attestation_object(auth_data, None));
        assert_eq!(facts, AttestationFacts::default());
        assert_eq!(
            AttestationFacts::read(b"not cbor"),
            AttestationFacts::default()
        );
    }
}
