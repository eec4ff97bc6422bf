//! UI messages ("Successfully verified Email.", a policy's `ak_message`): notes for the person
//! that are not part of any challenge (authentik's Django `messages`, spec §3.8).
//!
//! authentik's strict client refuses unknown challenge keys, so messages never travel inside the
//! challenge JSON. They ride on the executor's HTTP answer instead: one
//! [`MESSAGES_HEADER`] header per message, its value the form-urlencoded pair list
//! `level=<level>&message=<text>`. Form encoding keeps every value printable ASCII (any text,
//! newlines and non-ASCII included, survives a header), and encodes `,` as `%2C`, so a client
//! that joins repeated headers with `", "` (as `fetch` does) can split them apart again.
//! Clients that do not know the header simply ignore it.

use serde::{Deserialize, Serialize};

/// Response header carrying one UI message (repeated for several).
pub const MESSAGES_HEADER: &str = "x-keyflow-message";

/// Longest message text sent (longer texts are cut at a character boundary).
pub const MAX_MESSAGE_LEN: usize = 1024;

/// Django's message levels, by their tag names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageLevel {
    Debug,
    Info,
    Success,
    Warning,
    Error,
}

impl MessageLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Success => "success",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// One message for the person running the flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiMessage {
    pub level: MessageLevel,
    pub message: String,
}

impl UiMessage {
    pub fn new(level: MessageLevel, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.len() > MAX_MESSAGE_LEN {
            let mut end = MAX_MESSAGE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Self { level, message }
    }

    /// The header value for this message (printable ASCII only, no `,`).
    pub fn to_header_value(&self) -> String {
        serde_urlencoded::to_string([
            ("level", self.level.as_str()),
            ("message", self.message.as_str()),
        ])
        .unwrap_or_default()
    }

    /// Reads one header value; `None` for anything malformed (unknown level, missing text).
    pub fn from_header_value(value: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Pair {
            level: MessageLevel,
            message: String,
        }
        let pair: Pair = serde_urlencoded::from_str(value.trim()).ok()?;
        Some(Self::new(pair.level, pair.message))
    }
}

/// Reads the messages of one response, given the values of its [`MESSAGES_HEADER`] headers
/// (each may hold several messages joined by `,`). Malformed entries are skipped.
pub fn messages_from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<UiMessage> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .filter(|part| !part.trim().is_empty())
        .filter_map(UiMessage::from_header_value)
        .collect()
}

/// A challenge and the UI messages that came with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowAnswer {
    pub challenge: super::Challenge,
    #[serde(default)]
    pub messages: Vec<UiMessage>,
}

impl FlowAnswer {
    pub fn without_messages(challenge: super::Challenge) -> Self {
        Self {
            challenge,
            messages: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_printable_ascii_without_commas() {
        let message = UiMessage::new(
            MessageLevel::Warning,
            "Héllo, world;\r\nnew line <b>&amp; 100% \"done\"",
        );
        let value = message.to_header_value();
        assert!(
            value
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b','),
            "{value}"
        );
        assert_eq!(UiMessage::from_header_value(&value), Some(message));
    }

    #[test]
    fn joined_headers_split_back_into_messages() {
        let a = UiMessage::new(MessageLevel::Success, "Successfully verified Email.");
        let b = UiMessage::new(MessageLevel::Error, "a, b, c");
        let joined = format!("{}, {}", a.to_header_value(), b.to_header_value());
        assert_eq!(
            messages_from_headers([joined.as_str()]),
            vec![a.clone(), b.clone()]
        );
        let separate = [a.to_header_value(), b.to_header_value()];
        assert_eq!(
            messages_from_headers(separate.iter().map(String::as_str)),
            vec![a, b]
        );
    }

    #[test]
    fn malformed_values_are_skipped() {
        let good = UiMessage::new(MessageLevel::Info, "ok").to_header_value();
        let values = [
            "level=shout&message=x",
            "message=no-level",
            "%%%",
            "",
            good.as_str(),
        ];
        assert_eq!(
            messages_from_headers(values),
            vec![UiMessage::new(MessageLevel::Info, "ok")]
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_MESSAGE_LEN);
        let message = UiMessage::new(MessageLevel::Info, long);
        assert!(message.message.len() <= MAX_MESSAGE_LEN);
        assert!(message.message.chars().all(|c| c == 'é'));
    }
}
