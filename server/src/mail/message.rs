//! Building the MIME message: addresses as authentik writes them, a stable `Message-ID`, and a
//! plain-text + HTML body.

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use super::MailError;

/// The `To:` mailbox for a recipient (spec §4.12 "Mail details"): `"<name> <address>"`, with
/// CR/LF in the name flattened to spaces; a name that would need encoding (non-ASCII, which
/// authentik reduces to the bare address) or an empty one gives just the address.
///
/// Errors: [`MailError::InvalidAddress`] when `address` is not a mail address.
pub fn format_recipient(name: &str, address: &str) -> Result<Mailbox, MailError> {
    let email: Address = address
        .trim()
        .parse()
        .map_err(|_| MailError::InvalidAddress(address.to_owned()))?;
    let flat = flatten(name);
    let name = (!flat.is_empty() && flat.is_ascii()).then_some(flat);
    Ok(Mailbox::new(name, email))
}

/// The `From:` mailbox: `from_address` may be a bare address or `Name <address>`.
pub fn parse_sender(from: &str) -> Result<Mailbox, MailError> {
    flatten(from)
        .parse::<Mailbox>()
        .map_err(|_| MailError::InvalidAddress(from.to_owned()))
}

/// Replaces CR and LF (and runs of whitespace they leave) by single spaces.
fn flatten(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `<id@domain>` with the sender's domain (`localhost` if it has none).
pub fn message_id(id: uuid::Uuid, sender: &Mailbox) -> String {
    format!("<{}@{}>", id.simple(), sender.email.domain())
}

/// The parts of one mail.
pub struct Parts<'a> {
    pub from: Mailbox,
    pub to: Mailbox,
    pub subject: &'a str,
    pub message_id: &'a str,
    pub html: &'a str,
    pub text: Option<&'a str>,
}

pub fn build(parts: Parts<'_>) -> Result<Message, lettre::error::Error> {
    let builder = Message::builder()
        .from(parts.from)
        .to(parts.to)
        .subject(flatten(parts.subject))
        .message_id(Some(parts.message_id.to_owned()));
    match parts.text {
        Some(text) => builder.multipart(MultiPart::alternative_plain_html(
            text.to_owned(),
            parts.html.to_owned(),
        )),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(parts.html.to_owned()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, address: &str) -> String {
        format_recipient(name, address).unwrap().to_string()
    }

    #[test]
    fn recipients_are_name_and_address() {
        assert_eq!(
            header("Ann Admin", "ann@example.com"),
            "Ann Admin <ann@example.com>"
        );
        assert_eq!(header("", "ann@example.com"), "ann@example.com");
    }

    #[test]
    fn line_breaks_in_names_are_flattened() {
        assert_eq!(
            header("Ann\r\nBcc: evil@example.com", "ann@example.com"),
            "\"Ann Bcc: evil@example.com\" <ann@example.com>"
        );
        assert_eq!(header("A\nB\r", "ann@example.com"), "A B <ann@example.com>");
    }

    #[test]
    fn names_needing_encoding_give_the_bare_address() {
        assert_eq!(header("Zoë Ünal", "zoe@example.com"), "zoe@example.com");
    }

    #[test]
    fn invalid_addresses_are_errors() {
        assert!(matches!(
            format_recipient("Ann", "not an address"),
            Err(MailError::InvalidAddress(_))
        ));
        assert!(parse_sender("keyflow <no-reply@example.com>").is_ok());
        assert!(parse_sender("nope").is_err());
    }

    #[test]
    fn messages_have_both_parts_and_the_given_message_id() {
        let from = parse_sender("no-reply@example.com").unwrap();
        let id = message_id(uuid::Uuid::nil(), &from);
        assert_eq!(id, "<00000000000000000000000000000000@example.com>");
        let message = build(Parts {
            from,
            to: format_recipient("Ann", "ann@example.com").unwrap(),
            subject: "Hello\r\nthere",
            message_id: &id,
            html: "<p>Hi</p>",
            text: Some("Hi"),
        })
        .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains(&format!("Message-ID: {id}")), "{raw}");
        assert!(raw.contains("Subject: Hello there"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
    }
}
