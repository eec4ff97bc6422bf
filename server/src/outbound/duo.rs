//! Duo's Auth API v2 (spec §4.7): request signing and the calls the Duo stages make.
//!
//! Every request is signed as Duo documents it: the canonical request is five lines joined by
//! `\n` — the `Date` header (RFC 2822), the upper-case method, the lower-case host, the path,
//! and the parameters, each key and value percent-encoded (everything but `A-Za-z0-9-._~`,
//! upper-case hex), sorted, joined with `&`. The signature is the hex HMAC of that text under
//! the secret key (SHA-512; Duo's older clients used SHA-1, which the tests use to check the
//! canonical form against Duo's worked example), sent as `Authorization: Basic
//! base64(ikey:signature)`. POST parameters travel form-encoded, exactly as signed.
//!
//! `api_hostname` is Duo's `api-xxxxxxxx.duosecurity.com` (reached over HTTPS); a full URL
//! such as `http://127.0.0.1:8443` is accepted too (a local stand-in), its `host:port` signed.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::digest::{core_api::BlockSizeUser, Digest, KeyInit};
use hmac::{Mac, SimpleHmac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha512;
use thiserror::Error;

use super::Outbound;

/// The characters Duo leaves as they are: RFC 3986's unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Error)]
pub enum DuoError {
    /// Duo answered `{"stat": "FAIL", …}` (bad keys, unknown user, …).
    #[error("Duo refused the request ({code}): {message}")]
    Refused { code: i64, message: String },
    #[error("Duo is unreachable: {0}")]
    Network(String),
    #[error("Duo answered HTTP {status} without a JSON body")]
    NotJson { status: u16 },
    #[error("the Duo API hostname {0:?} is not a host name or URL")]
    BadHost(String),
}

/// One Duo application: where it lives and its keys.
#[derive(Clone, Debug)]
pub struct DuoApp<'a> {
    pub api_hostname: &'a str,
    pub integration_key: &'a str,
    pub secret_key: &'a str,
}

/// What `/auth/v2/enroll` hands out for a new Duo user.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Enrollment {
    /// A URL of the activation QR code image.
    pub activation_barcode: String,
    /// `duo://…`: the same activation as a link (mobile).
    pub activation_code: String,
    pub user_id: String,
    pub username: String,
}

/// `key=value&…` as Duo signs (and keyflow sends) them.
pub fn canonical_params(params: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(key, value)| {
            (
                utf8_percent_encode(key, UNRESERVED).to_string(),
                utf8_percent_encode(value, UNRESERVED).to_string(),
            )
        })
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The text a v2 signature covers.
pub fn canonical_request(
    date: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &[(&str, &str)],
) -> String {
    [
        date.to_owned(),
        method.to_uppercase(),
        host.to_lowercase(),
        path.to_owned(),
        canonical_params(params),
    ]
    .join("\n")
}

/// Hex HMAC of `canonical` under `secret_key` with digest `D`.
pub fn sign_with<D>(secret_key: &str, canonical: &str) -> String
where
    D: Digest + BlockSizeUser,
{
    let mut mac = match <SimpleHmac<D> as KeyInit>::new_from_slice(secret_key.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(canonical.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value for a signature.
pub fn authorization(integration_key: &str, signature: &str) -> String {
    let pair = format!("{integration_key}:{signature}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Duo's date format (RFC 2822 with `-0000`).
pub fn duo_date(now: DateTime<Utc>) -> String {
    now.format("%a, %d %b %Y %H:%M:%S -0000").to_string()
}

/// The base URL and the signed host of `api_hostname`.
fn endpoint(api_hostname: &str) -> Result<(String, String), DuoError> {
    let bad = || DuoError::BadHost(api_hostname.to_owned());
    if api_hostname.contains("://") {
        let url = url::Url::parse(api_hostname).map_err(|_| bad())?;
        let host = url.host_str().ok_or_else(bad)?;
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let base = format!("{}://{host}", url.scheme());
        return Ok((base, host));
    }
    let host = api_hostname.trim().trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    Ok((format!("https://{host}"), host.to_owned()))
}

impl Outbound {
    /// Calls `path` of `app` with `params`, signed; the `response` member of Duo's answer.
    pub async fn duo_call(
        &self,
        app: &DuoApp<'_>,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<Value, DuoError> {
        let (base, host) = endpoint(app.api_hostname)?;
        let date = duo_date(now);
        let canonical = canonical_request(&date, method.as_str(), &host, path, params);
        let signature = sign_with::<Sha512>(app.secret_key, &canonical);
        let query = canonical_params(params);
        let mut request = if method == Method::GET {
            let url = if query.is_empty() {
                format!("{base}{path}")
            } else {
                format!("{base}{path}?{query}")
            };
            self.http.get(url)
        } else {
            self.http
                .request(method, format!("{base}{path}"))
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(query)
        };
        request = request.header(reqwest::header::DATE, date).header(
            reqwest::header::AUTHORIZATION,
            authorization(app.integration_key, &signature),
        );
        let answer = request
            .send()
            .await
            .map_err(|e| DuoError::Network(e.without_url().to_string()))?;
        let status = answer.status().as_u16();
        let body: Value = answer
            .json()
            .await
            .map_err(|_| DuoError::NotJson { status })?;
        if body.get("stat").and_then(Value::as_str) == Some("OK") {
            return Ok(body.get("response").cloned().unwrap_or(Value::Null));
        }
        let message = body
            .get("message_detail")
            .or_else(|| body.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_owned();
        Err(DuoError::Refused {
            code: body.get("code").and_then(Value::as_i64).unwrap_or(0),
            message,
        })
    }

    /// `POST /auth/v2/enroll`: a new Duo user `username` and its activation.
    pub async fn duo_enroll(
        &self,
        app: &DuoApp<'_>,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<Enrollment, DuoError> {
        let answer = self
            .duo_call(
                app,
                Method::POST,
                "/auth/v2/enroll",
                &[("username", username)],
                now,
            )
            .await?;
        serde_json::from_value(answer).map_err(|_| DuoError::NotJson { status: 200 })
    }

    /// `POST /auth/v2/enroll_status`: `"success"`, `"waiting"` or `"invalid"`.
    pub async fn duo_enroll_status(
        &self,
        app: &DuoApp<'_>,
        user_id: &str,
        activation_code: &str,
        now: DateTime<Utc>,
    ) -> Result<String, DuoError> {
        let params = [("user_id", user_id), ("activation_code", activation_code)];
        let answer = self
            .duo_call(app, Method::POST, "/auth/v2/enroll_status", &params, now)
            .await?;
        Ok(answer.as_str().unwrap_or("invalid").to_owned())
    }

    /// `POST /auth/v2/auth`: a push to the user's phone (`factor=push`, `device=auto`) or a
    /// passcode check; true when Duo says `allow`.
    pub async fn duo_auth(
        &self,
        app: &DuoApp<'_>,
        user_id: &str,
        passcode: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, DuoError> {
        let params: Vec<(&str, &str)> = match passcode {
            Some(code) => vec![
                ("user_id", user_id),
                ("factor", "passcode"),
                ("passcode", code),
            ],
            None => vec![("user_id", user_id), ("factor", "push"), ("device", "auto")],
        };
        let answer = self
            .duo_call(app, Method::POST, "/auth/v2/auth", &params, now)
            .await?;
        Ok(answer.get("result").and_then(Value::as_str) == Some("allow"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_duos_worked_example() {
        // Duo's documentation: an Admin API request signed by a client of the time (SHA-1).
        let canonical = canonical_request(
            "Tue, 21 Aug 2012 17:29:18 -0000",
            "post",
            "api-XXXXXXXX.duosecurity.com",
            "/accounts/v1/account/list",
            &[("username", "root"), ("realname", "First Last")],
        );
        assert_eq!(
            canonical,
            "Tue, 21 Aug 2012 17:29:18 -0000\nPOST\napi-xxxxxxxx.duosecurity.com\n\
             /accounts/v1/account/list\nrealname=First%20Last&username=root"
        );
        let signature =
            sign_with::<sha1::Sha1>("Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep", &canonical);
        assert_eq!(
            authorization("DIWJ8X6AEYOR5OMC6TQ1", &signature),
            "Basic RElXSjhYNkFFWU9SNU9NQzZUUTE6MmQ5N2Q2MTY2MzE5NzgxYjVhM2EwN2Fm\
             MzlkMzY2ZjQ5MTIzNGVkYw=="
        );
    }

    #[test]
    fn unicode_parameters_sign_like_duo_client_python() {
        // duo_client_python's signing test: non-ASCII keys and values, mixed-case method and
        // host, SHA-1 and SHA-512.
        let params = [
            (
                "\u{469a}\u{287b}\u{35d0}\u{8ef3}\u{6727}\u{502a}\u{0810}\u{d091}\u{c8}\u{c170}",
                "\u{0f45}\u{1a76}\u{341a}\u{654c}\u{c23f}\u{9b09}\u{abe2}\u{8343}\u{1b27}\u{60d0}",
            ),
            (
                "\u{7449}\u{7e4b}\u{ccfb}\u{59ff}\u{fe5f}\u{83b7}\u{adcc}\u{900c}\u{cfd1}\u{7813}",
                "\u{8db7}\u{5022}\u{92d3}\u{42ef}\u{207d}\u{8730}\u{acfe}\u{5617}\u{0946}\u{4e30}",
            ),
            (
                "\u{7470}\u{9314}\u{901c}\u{9eae}\u{40d8}\u{4201}\u{82d8}\u{8c70}\u{1d31}\u{a042}",
                "\u{17d9}\u{0ba8}\u{9358}\u{aadf}\u{a42a}\u{48be}\u{fb96}\u{6fe9}\u{b7ff}\u{32f3}",
            ),
            (
                "\u{c2c5}\u{2c1d}\u{2620}\u{3617}\u{96b3}F\u{8605}\u{20e8}\u{ac21}\u{5934}",
                "\u{fba9}\u{41aa}\u{bd83}\u{840b}\u{2615}\u{3e6e}\u{652d}\u{a8b5}\u{d56b}U",
            ),
        ];
        let canonical = canonical_request(
            "Fri, 07 Dec 2012 17:18:00 -0000",
            "PoSt",
            "foO.BAr52.cOm",
            "/Foo/BaR2/qux",
            &params,
        );
        assert!(canonical.starts_with(
            "Fri, 07 Dec 2012 17:18:00 -0000\nPOST\nfoo.bar52.com\n/Foo/BaR2/qux\n%E4%9A%9A%E2%A1%BB"
        ));
        let skey = "gtdfxv9YgVBYcF6dl2Eq17KUQJN2PLM2ODVTkvoT";
        assert_eq!(
            sign_with::<sha1::Sha1>(skey, &canonical),
            "f01811cbbf9561623ab45b893096267fd46a5178"
        );
        assert_eq!(
            sign_with::<Sha512>(skey, &canonical),
            "0508065035a03b2a1de2f453e629e791d180329e157f65df6b3e0f08299d4321\
             e1c5c7a7c7ee6b9e5fc80d1fb6fbf3ad5eb7c44dd3b3985a02c37aca53ec3698"
        );
    }

    #[test]
    fn dates_use_duos_rfc_2822_form() {
        let at = DateTime::parse_from_rfc3339("2012-08-21T17:29:18Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(duo_date(at), "Tue, 21 Aug 2012 17:29:18 -0000");
    }

    #[test]
    fn api_hostnames_are_hosts_or_urls() {
        assert_eq!(
            endpoint("api-1234abcd.duosecurity.com").unwrap(),
            (
                "https://api-1234abcd.duosecurity.com".into(),
                "api-1234abcd.duosecurity.com".into()
            )
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8443").unwrap(),
            ("http://127.0.0.1:8443".into(), "127.0.0.1:8443".into())
        );
        assert!(endpoint("").is_err());
        assert!(endpoint("api.example.com/path").is_err());
    }
}
