//! The browser half of WebAuthn (compiled into the WASM only): turns the server's JSON options
//! into what `navigator.credentials.create/get` take (binary fields base64url → `Uint8Array`),
//! calls them through web-sys, and turns the credential back into the JSON webauthn-rs reads
//! (`RegisterPublicKeyCredential` / `PublicKeyCredential`, binary fields base64url). Every
//! failure becomes a sentence for the page; nothing here panics on what the browser returns.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use js_sys::{ArrayBuffer, Function, Object, Promise, Reflect, Uint8Array, JSON};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortSignal, AuthenticatorAssertionResponse, AuthenticatorAttestationResponse,
    CredentialCreationOptions, CredentialRequestOptions, CredentialsContainer, DomException,
    PublicKeyCredential, PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions,
};

const UNSUPPORTED: &str = "This browser cannot use security keys or passkeys (WebAuthn).";

/// `navigator.credentials`, when this browser has WebAuthn at all.
fn credentials() -> Result<CredentialsContainer, String> {
    let window = leptos::prelude::window();
    let has_webauthn = Reflect::has(&window, &"PublicKeyCredential".into()).unwrap_or(false);
    let navigator = window.navigator();
    if !has_webauthn || !Reflect::has(&navigator, &"credentials".into()).unwrap_or(false) {
        return Err(UNSUPPORTED.to_owned());
    }
    Ok(navigator.credentials())
}

/// Whether the browser offers passkeys in the username field's autofill (conditional UI).
/// Asked through `Reflect` because browsers without it have no such method at all.
pub async fn conditional_mediation_available() -> bool {
    let Ok(class) = Reflect::get(&leptos::prelude::window(), &"PublicKeyCredential".into()) else {
        return false;
    };
    let method = Reflect::get(&class, &"isConditionalMediationAvailable".into())
        .ok()
        .and_then(|m| m.dyn_into::<Function>().ok());
    let Some(method) = method else {
        return false;
    };
    match method.call0(&class).map(Promise::from) {
        Ok(promise) => JsFuture::from(promise)
            .await
            .is_ok_and(|available| available.is_truthy()),
        Err(_) => false,
    }
}

fn decode(text: &str) -> Result<Uint8Array, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("The server sent invalid WebAuthn options ({e})."))?;
    Ok(Uint8Array::from(bytes.as_slice()))
}

fn encode(buffer: &ArrayBuffer) -> String {
    URL_SAFE_NO_PAD.encode(Uint8Array::new(buffer).to_vec())
}

/// Replaces `object[key]` (a base64url string) with its bytes; absent keys are left alone.
fn decode_field(object: &JsValue, key: &str) -> Result<(), String> {
    let value = Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED);
    if let Some(text) = value.as_string() {
        let bytes: JsValue = decode(&text)?.into();
        Reflect::set(object, &key.into(), &bytes)
            .map_err(|_| "Could not prepare the WebAuthn request.".to_owned())?;
    }
    Ok(())
}

/// Decodes the `id` of every credential descriptor in `object[key]`.
fn decode_descriptors(object: &JsValue, key: &str) -> Result<(), String> {
    let list = Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED);
    if let Some(list) = list.dyn_ref::<js_sys::Array>() {
        for descriptor in list.iter() {
            decode_field(&descriptor, "id")?;
        }
    }
    Ok(())
}

/// The options JSON as a JS object (before the binary fields are decoded).
fn parse_options(options: &Value) -> Result<Object, String> {
    JSON::parse(&options.to_string())
        .ok()
        .and_then(|o| o.dyn_into::<Object>().ok())
        .ok_or_else(|| "The server sent invalid WebAuthn options.".to_owned())
}

/// A sentence for a rejected WebAuthn call (the DOMException names browsers use).
fn describe(error: JsValue) -> String {
    let Some(exception) = error.dyn_ref::<DomException>() else {
        return "The security key or passkey could not be used.".to_owned();
    };
    match exception.name().as_str() {
        "NotAllowedError" => {
            "The request was cancelled or timed out. Try again when your security key or passkey is ready.".to_owned()
        }
        "InvalidStateError" => {
            "This security key or passkey is already registered for your account.".to_owned()
        }
        "SecurityError" => {
            "WebAuthn is not allowed on this address. Open the page by its domain name over HTTPS."
                .to_owned()
        }
        "AbortError" => "The request was aborted.".to_owned(),
        "NotSupportedError" => {
            "Your security key or passkey does not support what this server requires.".to_owned()
        }
        name => format!("{name}: {}", exception.message()),
    }
}

async fn credential_of(promise: Result<Promise, JsValue>) -> Result<PublicKeyCredential, String> {
    let promise = promise.map_err(describe)?;
    let credential = JsFuture::from(promise).await.map_err(describe)?;
    credential
        .dyn_into::<PublicKeyCredential>()
        .map_err(|_| "No security key or passkey was chosen.".to_owned())
}

/// `navigator.credentials.create` with PublicKeyCredentialCreationOptions JSON; the
/// registration response JSON.
pub async fn create_credential(options: &Value) -> Result<Value, String> {
    let container = credentials()?;
    let public_key = parse_options(options)?;
    decode_field(&public_key, "challenge")?;
    let user = Reflect::get(&public_key, &"user".into()).unwrap_or(JsValue::UNDEFINED);
    decode_field(&user, "id")?;
    decode_descriptors(&public_key, "excludeCredentials")?;
    let request = CredentialCreationOptions::new();
    request.set_public_key(public_key.unchecked_ref::<PublicKeyCredentialCreationOptions>());
    let credential = credential_of(container.create_with_options(&request)).await?;
    let response = credential
        .response()
        .dyn_into::<AuthenticatorAttestationResponse>()
        .map_err(|_| "The authenticator gave no registration.".to_owned())?;
    Ok(json!({
        "id": credential.id(),
        "rawId": encode(&credential.raw_id()),
        "type": credential.type_(),
        "response": {
            "attestationObject": encode(&response.attestation_object()),
            "clientDataJSON": encode(&response.client_data_json()),
        },
    }))
}

/// `navigator.credentials.get` with PublicKeyCredentialRequestOptions JSON; the assertion JSON.
/// With `conditional`, the request waits for the person to pick a passkey from the username
/// field's autofill, until the signal aborts it.
pub async fn get_assertion(
    options: &Value,
    conditional: Option<&AbortSignal>,
) -> Result<Value, String> {
    let container = credentials()?;
    let public_key = parse_options(options)?;
    decode_field(&public_key, "challenge")?;
    decode_descriptors(&public_key, "allowCredentials")?;
    let request = CredentialRequestOptions::new();
    request.set_public_key(public_key.unchecked_ref::<PublicKeyCredentialRequestOptions>());
    if let Some(signal) = conditional {
        request.set_signal(signal);
        // `mediation` is not in web-sys' dictionary yet; it is a plain property.
        Reflect::set(&request, &"mediation".into(), &"conditional".into())
            .map_err(|_| "Could not prepare the WebAuthn request.".to_owned())?;
    }
    let credential = credential_of(container.get_with_options(&request)).await?;
    let response = credential
        .response()
        .dyn_into::<AuthenticatorAssertionResponse>()
        .map_err(|_| "The authenticator gave no signature.".to_owned())?;
    Ok(json!({
        "id": credential.id(),
        "rawId": encode(&credential.raw_id()),
        "type": credential.type_(),
        "response": {
            "authenticatorData": encode(&response.authenticator_data()),
            "clientDataJSON": encode(&response.client_data_json()),
            "signature": encode(&response.signature()),
            "userHandle": response.user_handle().map(|handle| encode(&handle)),
        },
    }))
}
