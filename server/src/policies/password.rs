//! Password policy: checks the password a person is setting (from `prompt_data`, else the
//! context) against static rules, a built-in list of common passwords and, optionally, a zxcvbn
//! strength estimate.
//!
//! `check_have_i_been_pwned`: keyflow cannot reach the Have I Been Pwned service, so this switch
//! checks the built-in list of common passwords instead (an offline stand-in: any listed
//! password fails, since every one of them appears in breaches far more often than any sensible
//! `hibp_allowed_count`). The password never leaves the process and is never logged.

use std::collections::HashSet;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::FieldErrors;
use crate::engine::policy::{PolicyRequest, PolicyResult};

/// The 30,000 most common passwords, one per line, most common first. Source: the "passwords"
/// frequency list shipped by the `zxcvbn` crate 3.1.1 on crates.io (MIT licence, Copyright (c)
/// 2016 Joshua Holmer; the list itself comes from Dropbox's zxcvbn, MIT licence).
const COMMON_PASSWORDS_LIST: &str = include_str!("common_passwords.txt");

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| COMMON_PASSWORDS_LIST.lines().collect());

/// The message authentik gives when neither `prompt_data` nor the context has the field.
pub const PASSWORD_NOT_SET: &str = "Password not set in context";
pub const COMMON_PASSWORD: &str = "Password is in a list of commonly used passwords.";
pub const TOO_WEAK: &str = "Password is too weak.";

/// zxcvbn only looks at the first 100 characters; so do the user-input hints.
const ZXCVBN_MAX_CHARS: usize = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub password_field: String,
    pub amount_digits: u32,
    pub amount_uppercase: u32,
    pub amount_lowercase: u32,
    pub amount_symbols: u32,
    pub length_min: u32,
    pub symbol_charset: String,
    pub error_message: String,
    pub check_static_rules: bool,
    pub check_have_i_been_pwned: bool,
    pub hibp_allowed_count: u32,
    pub check_zxcvbn: bool,
    pub zxcvbn_score_threshold: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            password_field: "password".into(),
            amount_digits: 0,
            amount_uppercase: 0,
            amount_lowercase: 0,
            amount_symbols: 0,
            length_min: 0,
            // authentik's default: ASCII punctuation plus space (the backslash included).
            symbol_charset: "!\\\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ".into(),
            error_message: String::new(),
            check_static_rules: true,
            check_have_i_been_pwned: false,
            hibp_allowed_count: 0,
            check_zxcvbn: false,
            zxcvbn_score_threshold: 2,
        }
    }
}

/// Whether `password` is on the built-in list of common passwords (case-insensitive, like the
/// list, which is lower-case).
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

impl PasswordPolicy {
    pub fn validate(&self) -> FieldErrors {
        let mut errors = Vec::new();
        if self.password_field.trim().is_empty() {
            errors.push((
                "password_field".into(),
                "This field may not be blank.".into(),
            ));
        }
        if !(self.check_static_rules || self.check_have_i_been_pwned || self.check_zxcvbn) {
            errors.push((
                "check_static_rules".into(),
                "At least one check must be enabled.".into(),
            ));
        }
        if self.zxcvbn_score_threshold > 4 {
            errors.push((
                "zxcvbn_score_threshold".into(),
                "Must be between 0 and 4.".into(),
            ));
        }
        if self.amount_symbols > 0 && self.symbol_charset.is_empty() {
            errors.push((
                "symbol_charset".into(),
                "Symbols are required but no symbol characters are configured.".into(),
            ));
        }
        errors
    }

    pub fn evaluate(&self, request: &PolicyRequest<'_>) -> PolicyResult {
        let context = request.context;
        let value = context
            .prompt_data
            .get(&self.password_field)
            .or_else(|| context.extra.get(&self.password_field));
        let password = match value {
            Some(serde_json::Value::String(p)) if !p.is_empty() => p.as_str(),
            _ => return fail(vec![PASSWORD_NOT_SET.into()]),
        };
        if self.check_static_rules && !self.passes_static(password) {
            return fail(vec![self.error_message.clone()]);
        }
        if self.check_have_i_been_pwned && is_common_password(password) {
            return fail(vec![COMMON_PASSWORD.into()]);
        }
        if self.check_zxcvbn {
            let inputs = user_inputs(request);
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let truncated: String = password.chars().take(ZXCVBN_MAX_CHARS).collect();
            let estimate = zxcvbn::zxcvbn(&truncated, &inputs);
            if u8::from(estimate.score()) < self.zxcvbn_score_threshold {
                let mut messages = vec![TOO_WEAK.to_owned()];
                if let Some(feedback) = estimate.feedback() {
                    messages.extend(feedback.warning().map(|w| w.to_string()));
                    messages.extend(feedback.suggestions().iter().map(|s| s.to_string()));
                }
                return fail(messages);
            }
        }
        PolicyResult::pass()
    }

    fn passes_static(&self, password: &str) -> bool {
        let count = |f: &dyn Fn(char) -> bool| password.chars().filter(|c| f(*c)).count();
        let at_least = |n: usize, required: u32| n >= required as usize;
        at_least(password.chars().count(), self.length_min)
            && at_least(count(&|c| c.is_ascii_digit()), self.amount_digits)
            && at_least(count(&|c| c.is_uppercase()), self.amount_uppercase)
            && at_least(count(&|c| c.is_lowercase()), self.amount_lowercase)
            && at_least(
                count(&|c| self.symbol_charset.contains(c)),
                self.amount_symbols,
            )
    }
}

fn fail(messages: Vec<String>) -> PolicyResult {
    PolicyResult {
        passing: false,
        messages: messages.into_iter().filter(|m| !m.is_empty()).collect(),
        ..PolicyResult::default()
    }
}

/// Things about the person zxcvbn should treat as guessable.
fn user_inputs(request: &PolicyRequest<'_>) -> Vec<String> {
    let mut inputs = Vec::new();
    if let Some(user) = request.user {
        inputs.extend([user.username.clone(), user.name.clone(), user.email.clone()]);
    }
    for key in ["username", "name", "email"] {
        if let Some(serde_json::Value::String(v)) = request.context.prompt_data.get(key) {
            inputs.push(v.clone());
        }
    }
    inputs.retain(|i| !i.is_empty());
    inputs
        .into_iter()
        .map(|i| i.chars().take(ZXCVBN_MAX_CHARS).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{context::FlowContext, request::RequestInfo};
    use serde_json::json;

    fn run(policy: &PasswordPolicy, context: &FlowContext) -> PolicyResult {
        policy.evaluate(&PolicyRequest {
            user: None,
            context,
            request: &RequestInfo::default(),
        })
    }

    fn with_prompt(password: &str) -> FlowContext {
        let mut context = FlowContext::default();
        context
            .prompt_data
            .insert("password".into(), json!(password));
        context
    }

    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            amount_digits: 1,
            amount_uppercase: 1,
            amount_lowercase: 1,
            amount_symbols: 1,
            length_min: 8,
            error_message: "too simple".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_built_in_list_has_the_usual_suspects_and_at_least_10000_entries() {
        assert!(COMMON_PASSWORDS.len() >= 10_000);
        assert!(is_common_password("password"));
        assert!(is_common_password("Qwerty123"));
        assert!(!is_common_password("correct horse battery staple 9!"));
    }

    #[test]
    fn missing_password_fails_with_authentiks_message() {
        let result = run(&strict(), &FlowContext::default());
        assert_eq!(result, fail(vec![PASSWORD_NOT_SET.into()]));
    }

    #[test]
    fn static_rules_each_count() {
        let policy = strict();
        assert!(run(&policy, &with_prompt("Abcdef1!")).passing);
        for bad in ["Abcde1!", "abcdef1!", "ABCDEF1!", "Abcdefg!", "Abcdefg1"] {
            let result = run(&policy, &with_prompt(bad));
            assert!(!result.passing, "{bad} should fail");
            assert_eq!(result.messages, vec!["too simple"]);
        }
    }

    #[test]
    fn password_is_read_from_the_context_when_not_in_prompt_data() {
        let mut context = FlowContext::default();
        context.set_extra("new_password", "Abcdef1!");
        let policy = PasswordPolicy {
            password_field: "new_password".into(),
            ..strict()
        };
        assert!(run(&policy, &context).passing);
    }

    #[test]
    fn common_passwords_fail_the_offline_breach_check() {
        let policy = PasswordPolicy {
            check_static_rules: false,
            check_have_i_been_pwned: true,
            ..Default::default()
        };
        assert_eq!(
            run(&policy, &with_prompt("iloveyou")).messages,
            vec![COMMON_PASSWORD]
        );
        assert!(run(&policy, &with_prompt("vq8#Lm2!zz-Rt")).passing);
    }

    #[test]
    fn zxcvbn_threshold_rejects_weak_passwords_with_feedback() {
        let policy = PasswordPolicy {
            check_static_rules: false,
            check_zxcvbn: true,
            zxcvbn_score_threshold: 3,
            ..Default::default()
        };
        let weak = run(&policy, &with_prompt("abc123"));
        assert!(!weak.passing);
        assert_eq!(weak.messages[0], TOO_WEAK);
        assert!(weak.messages.len() > 1, "feedback expected: {weak:?}");
        assert!(run(&policy, &with_prompt("vq8#Lm2!zz-Rt-plover-77")).passing);
    }

    #[test]
    fn validation_names_the_field() {
        let policy = PasswordPolicy {
            zxcvbn_score_threshold: 9,
            password_field: " ".into(),
            ..Default::default()
        };
        let fields: Vec<String> = policy.validate().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec!["password_field", "zxcvbn_score_threshold"]);
    }
}
