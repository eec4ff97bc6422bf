//! authentik's duration strings: `key=value;key=value` with keys microseconds, milliseconds,
//! seconds, minutes, hours, days, weeks. Unknown keys are ignored; at least one known key is
//! required.

use chrono::Duration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid duration {0:?}: expected e.g. \"hours=1;minutes=30\"")]
pub struct DurationError(pub String);

/// A parsed duration that keeps its original text for round trips (exports, blueprints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowDuration {
    pub text: String,
    pub value: Duration,
}

/// Stored and sent as its text; the admin forms edit it as text in authentik's format.
impl schemars::JsonSchema for FlowDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FlowDuration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "duration",
            "description": "authentik's duration format: key=value pairs joined by \";\" with keys weeks, days, hours, minutes, seconds, milliseconds, e.g. \"hours=1;minutes=30\"."
        })
    }
}

impl FlowDuration {
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let mut total = Duration::zero();
        let mut known = false;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| DurationError(text.into()))?;
            let amount: f64 = value
                .trim()
                .parse()
                .map_err(|_| DurationError(text.into()))?;
            if !amount.is_finite() || amount < 0.0 {
                return Err(DurationError(text.into()));
            }
            let micros_per_unit: f64 = match key.trim() {
                "microseconds" => 1.0,
                "milliseconds" => 1e3,
                "seconds" => 1e6,
                "minutes" => 60e6,
                "hours" => 3600e6,
                "days" => 86_400e6,
                "weeks" => 604_800e6,
                _ => continue,
            };
            known = true;
            let micros = amount * micros_per_unit;
            if micros > 1e17 {
                return Err(DurationError(text.into()));
            }
            total += Duration::microseconds(micros as i64);
        }
        if !known {
            return Err(DurationError(text.into()));
        }
        Ok(Self {
            text: text.to_owned(),
            value: total,
        })
    }

    pub fn zero() -> Self {
        Self {
            text: "seconds=0".into(),
            value: Duration::zero(),
        }
    }
}

impl Serialize for FlowDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for FlowDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        FlowDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_keys_and_ignores_unknown_ones() {
        let d = FlowDuration::parse("hours=1;minutes=30;fortnights=2").unwrap();
        assert_eq!(d.value, Duration::minutes(90));
        assert_eq!(
            FlowDuration::parse("seconds=0").unwrap().value,
            Duration::zero()
        );
        assert_eq!(
            FlowDuration::parse("milliseconds=1500").unwrap().value,
            Duration::milliseconds(1500)
        );
    }

    #[test]
    fn rejects_text_without_known_keys_or_with_bad_numbers() {
        for bad in [
            "",
            "fortnights=1",
            "hours",
            "hours=abc",
            "hours=-1",
            "hours=1e30",
        ] {
            assert!(FlowDuration::parse(bad).is_err(), "{bad:?}");
        }
    }
}
