//! TOTP (RFC 6238) codes via `totp-rs`, plus what the crate leaves to its caller: a code is
//! accepted once per time step (a step at or before the last accepted one is a replay), and the
//! `otpauth://` URI authenticator apps scan, spelled as authentik spells it.

use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Builder};

/// Steps either side of now that still count, for clock drift (authentik's `tolerance`).
pub const TOLERANCE_STEPS: u16 = 1;
/// Length of a new key: 160 bits, as RFC 4226 recommends and authentik uses.
pub const KEY_BYTES: usize = 20;
pub const DEFAULT_PERIOD: u32 = 30;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum TotpAlgorithm {
    #[default]
    #[serde(rename = "SHA1", alias = "sha1")]
    Sha1,
    #[serde(rename = "SHA256", alias = "sha256")]
    Sha256,
    #[serde(rename = "SHA512", alias = "sha512")]
    Sha512,
}

impl TotpAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "SHA1" => Some(Self::Sha1),
            "SHA256" => Some(Self::Sha256),
            "SHA512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn crate_algorithm(self) -> Algorithm {
        match self {
            Self::Sha1 => Algorithm::SHA1,
            Self::Sha256 => Algorithm::SHA256,
            Self::Sha512 => Algorithm::SHA512,
        }
    }
}

/// How codes of one device are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TotpParams {
    pub digits: u8,
    pub algorithm: TotpAlgorithm,
    /// Seconds per step.
    pub period: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code matches time step `step`, which had not been used before.
    Accepted {
        step: i64,
    },
    /// The code matches a step that was already used (or an earlier one).
    Replayed,
    Mismatch,
}

pub fn generate_key() -> Vec<u8> {
    use rand::RngCore;
    let mut key = vec![0u8; KEY_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

fn build(key: &[u8], params: TotpParams) -> Option<totp_rs::Totp> {
    Builder::new()
        .with_algorithm(params.algorithm.crate_algorithm())
        .with_digits(params.digits)
        .with_skew(TOLERANCE_STEPS)
        .with_step_duration(u64::from(params.period))
        .with_secret(key.to_vec())
        .build()
        .ok()
}

/// The code for the Unix time `unix_seconds` (what an authenticator app shows then).
pub fn code_at(key: &[u8], params: TotpParams, unix_seconds: u64) -> Option<String> {
    build(key, params).map(|totp| totp.generate(unix_seconds).to_string())
}

/// Checks `code` at `unix_seconds`, given the last accepted step (-1 for none).
/// Surrounding whitespace is ignored, as authenticator apps often group digits.
pub fn check(
    key: &[u8],
    params: TotpParams,
    code: &str,
    unix_seconds: u64,
    last_step: i64,
) -> CodeCheck {
    let Some(totp) = build(key, params) else {
        return CodeCheck::Mismatch;
    };
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    match totp.check(&code, unix_seconds) {
        Some(step) => match i64::try_from(step) {
            Ok(step) if step > last_step => CodeCheck::Accepted { step },
            Ok(_) => CodeCheck::Replayed,
            Err(_) => CodeCheck::Mismatch,
        },
        None => CodeCheck::Mismatch,
    }
}

/// RFC 4648 base32 without padding, as authenticator apps expect in `secret=`.
pub fn base32_key(key: &[u8]) -> String {
    totp_rs::Secret::from(key.to_vec())
        .to_base32()
        .trim_end_matches('=')
        .to_owned()
}

/// Percent-encodes like Python's `urllib.parse.quote` (unreserved characters and `/` stay).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.-~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `otpauth://totp/<issuer>%3A<user>?secret=…&algorithm=…&digits=…&period=…&issuer=…`.
pub fn config_url(issuer: &str, username: &str, key: &[u8], params: TotpParams) -> String {
    // A colon would split the label differently in the app.
    let issuer = issuer.replace(':', "");
    format!(
        "otpauth://totp/{}?secret={}&algorithm={}&digits={}&period={}&issuer={}",
        quote(&format!("{issuer}:{username}")),
        base32_key(key),
        params.algorithm.as_str(),
        params.digits,
        params.period,
        quote(&issuer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_KEY: &[u8] = b"12345678901234567890";
    const SHA256_KEY: &[u8] = b"12345678901234567890123456789012";
    const SHA512_KEY: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn params(algorithm: TotpAlgorithm) -> TotpParams {
        TotpParams {
            digits: 8,
            algorithm,
            period: 30,
        }
    }

    /// RFC 6238 Appendix B, every row.
    #[test]
    fn rfc_6238_test_vectors() {
        let rows: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, sha1, sha256, sha512) in rows {
            assert_eq!(
                code_at(SHA1_KEY, params(TotpAlgorithm::Sha1), time).unwrap(),
                sha1
            );
            assert_eq!(
                code_at(SHA256_KEY, params(TotpAlgorithm::Sha256), time).unwrap(),
                sha256
            );
            assert_eq!(
                code_at(SHA512_KEY, params(TotpAlgorithm::Sha512), time).unwrap(),
                sha512
            );
        }
    }

    /// oathtool (Debian package `oathtool`) is a second, independent implementation.
    #[test]
    fn codes_agree_with_oathtool() {
        let Ok(version) = std::process::Command::new("oathtool")
            .arg("--version")
            .output()
        else {
            // CI installs it (.ci/setup) and sets KEYFLOW_STRICT_TESTS, so there a missing
            // oathtool fails; a developer machine without it skips this check loudly.
            assert!(
                std::env::var_os("KEYFLOW_STRICT_TESTS").is_none(),
                "oathtool is required when KEYFLOW_STRICT_TESTS is set"
            );
            eprintln!("oathtool not installed: skipping the cross-check");
            return;
        };
        assert!(version.status.success());
        let key = generate_key();
        for (algorithm, flag) in [
            (TotpAlgorithm::Sha1, "sha1"),
            (TotpAlgorithm::Sha256, "sha256"),
            (TotpAlgorithm::Sha512, "sha512"),
        ] {
            for (digits, period, time) in [(6u8, 30u32, 1_700_000_000u64), (8, 60, 1_234_567_890)] {
                let p = TotpParams {
                    digits,
                    algorithm,
                    period,
                };
                let out = std::process::Command::new("oathtool")
                    .args([
                        &format!("--totp={flag}"),
                        "-d",
                        &digits.to_string(),
                        "-s",
                        &format!("{period}s"),
                        "-N",
                        &format!("@{time}"),
                        &hex::encode(&key),
                    ])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let expected = String::from_utf8(out.stdout).unwrap().trim().to_owned();
                assert_eq!(
                    code_at(&key, p, time).unwrap(),
                    expected,
                    "{flag} {digits} {period}"
                );
            }
        }
    }

    #[test]
    fn a_code_is_accepted_once_per_step() {
        let p = TotpParams {
            digits: 6,
            algorithm: TotpAlgorithm::Sha1,
            period: 30,
        };
        let now = 1_700_000_015;
        let code = code_at(SHA1_KEY, p, now).unwrap();
        let CodeCheck::Accepted { step } = check(SHA1_KEY, p, &code, now, -1) else {
            panic!("fresh code rejected");
        };
        assert_eq!(step, (now / 30) as i64);
        assert_eq!(
            check(SHA1_KEY, p, &code, now + 5, step),
            CodeCheck::Replayed
        );
        // The next step's code is fine; the previous step's is not once a later one was used.
        let next = code_at(SHA1_KEY, p, now + 30).unwrap();
        assert_eq!(
            check(SHA1_KEY, p, &next, now + 30, step),
            CodeCheck::Accepted { step: step + 1 }
        );
        let previous = code_at(SHA1_KEY, p, now - 30).unwrap();
        assert_eq!(
            check(SHA1_KEY, p, &previous, now, step),
            CodeCheck::Replayed
        );
    }

    #[test]
    fn tolerance_is_one_step_either_side() {
        let p = TotpParams {
            digits: 6,
            algorithm: TotpAlgorithm::Sha1,
            period: 30,
        };
        let now = 1_700_000_015;
        for offset in [-30i64, 30] {
            let code = code_at(SHA1_KEY, p, (now as i64 + offset) as u64).unwrap();
            assert!(matches!(
                check(SHA1_KEY, p, &code, now, -1),
                CodeCheck::Accepted { .. }
            ));
        }
        for offset in [-90i64, 90] {
            let code = code_at(SHA1_KEY, p, (now as i64 + offset) as u64).unwrap();
            assert_eq!(check(SHA1_KEY, p, &code, now, -1), CodeCheck::Mismatch);
        }
        assert_eq!(check(SHA1_KEY, p, "12345", now, -1), CodeCheck::Mismatch);
        assert_eq!(check(SHA1_KEY, p, "abcdef", now, -1), CodeCheck::Mismatch);
        assert_eq!(check(SHA1_KEY, p, "+12345", now, -1), CodeCheck::Mismatch);
    }

    #[test]
    fn config_url_has_authentiks_shape() {
        let p = TotpParams {
            digits: 6,
            algorithm: TotpAlgorithm::Sha1,
            period: 30,
        };
        assert_eq!(
            config_url("keyflow", "jane doe", SHA1_KEY, p),
            "otpauth://totp/keyflow%3Ajane%20doe?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &algorithm=SHA1&digits=6&period=30&issuer=keyflow"
        );
        assert_eq!(base32_key(&generate_key()).len(), 32);
    }
}
