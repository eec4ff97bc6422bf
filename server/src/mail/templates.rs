//! Mail templates (spec §4.12 "template"): the built-ins embedded in the binary, plus custom
//! files under the optional template directory (`KEYFLOW_EMAIL__TEMPLATE_DIR`).
//!
//! A template `x.html` renders the HTML part with autoescaping; a sibling `x.txt`, when there is
//! one (every built-in has one), renders the plain-text part without escaping.

use std::path::PathBuf;

use minijinja::{Environment, ErrorKind};
use serde_json::Value;

use super::MailError;

/// The built-in templates a stage may name (the API accepts these and custom files).
pub const BUILTIN_TEMPLATES: [&str; 5] = [
    "email/password_reset.html",
    "email/account_confirmation.html",
    "email/email_otp.html",
    "email/event_notification.html",
    "email/invitation.html",
];

/// Every embedded file: the selectable templates, their text parts and the shared layouts.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "email/base.html",
        include_str!("../../templates/email/base.html"),
    ),
    (
        "email/base.txt",
        include_str!("../../templates/email/base.txt"),
    ),
    (
        "email/password_reset.html",
        include_str!("../../templates/email/password_reset.html"),
    ),
    (
        "email/password_reset.txt",
        include_str!("../../templates/email/password_reset.txt"),
    ),
    (
        "email/account_confirmation.html",
        include_str!("../../templates/email/account_confirmation.html"),
    ),
    (
        "email/account_confirmation.txt",
        include_str!("../../templates/email/account_confirmation.txt"),
    ),
    (
        "email/email_otp.html",
        include_str!("../../templates/email/email_otp.html"),
    ),
    (
        "email/email_otp.txt",
        include_str!("../../templates/email/email_otp.txt"),
    ),
    (
        "email/event_notification.html",
        include_str!("../../templates/email/event_notification.html"),
    ),
    (
        "email/event_notification.txt",
        include_str!("../../templates/email/event_notification.txt"),
    ),
    (
        "email/invitation.html",
        include_str!("../../templates/email/invitation.html"),
    ),
    (
        "email/invitation.txt",
        include_str!("../../templates/email/invitation.txt"),
    ),
];

/// A rendered mail body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    /// `None` when the template has no `.txt` sibling (custom templates may leave it out).
    pub text: Option<String>,
}

/// The template environment; cheap to share behind the [`super::Mailer`]'s `Arc`.
pub struct Templates {
    env: Environment<'static>,
    custom_dir: Option<PathBuf>,
}

impl Templates {
    /// Built-ins plus, when `custom_dir` is set, any file below it (names are paths relative to
    /// it, e.g. `custom/welcome.html`; names with `..` or hidden segments are never loaded).
    pub fn new(custom_dir: Option<PathBuf>) -> Self {
        let mut env = Environment::new();
        for (name, source) in EMBEDDED {
            // The embedded sources are checked by the unit tests; a broken one would surface
            // as a render error, never a panic.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(
                    template = *name,
                    "built-in mail template does not compile: {e}"
                );
            }
        }
        if let Some(dir) = &custom_dir {
            env.set_loader(minijinja::path_loader(dir.clone()));
        }
        Self { env, custom_dir }
    }

    /// `Ok` when `name` is a built-in or an existing file in the custom directory; otherwise
    /// [`MailError::UnknownTemplate`] ("Invalid template '<x>' specified.").
    pub fn check(&self, name: &str) -> Result<(), MailError> {
        let selectable = BUILTIN_TEMPLATES.contains(&name)
            || self
                .custom_dir
                .as_ref()
                .and_then(|dir| custom_path(dir, name))
                .is_some_and(|path| path.is_file());
        if selectable {
            Ok(())
        } else {
            Err(MailError::UnknownTemplate(name.to_owned()))
        }
    }

    /// Renders `name` (and its `.txt` sibling) with `context`.
    ///
    /// Errors: [`MailError::UnknownTemplate`] when it does not exist, [`MailError::Template`]
    /// for syntax or render errors (with the template's line).
    pub fn render(&self, name: &str, context: &Value) -> Result<Rendered, MailError> {
        self.check(name)?;
        let html = self.render_one(name, context)?;
        let text = match name.strip_suffix(".html") {
            Some(stem) => {
                let text_name = format!("{stem}.txt");
                match self.env.get_template(&text_name) {
                    Ok(template) => Some(
                        template
                            .render(minijinja::Value::from(minijinja::value::Serde(context)))
                            .map_err(|e| template_error(&text_name, &e))?,
                    ),
                    Err(e) if e.kind() == ErrorKind::TemplateNotFound => None,
                    Err(e) => return Err(template_error(&text_name, &e)),
                }
            }
            None => None,
        };
        Ok(Rendered { html, text })
    }

    fn render_one(&self, name: &str, context: &Value) -> Result<String, MailError> {
        let template = self.env.get_template(name).map_err(|e| match e.kind() {
            ErrorKind::TemplateNotFound => MailError::UnknownTemplate(name.to_owned()),
            _ => template_error(name, &e),
        })?;
        template
            .render(minijinja::Value::from(minijinja::value::Serde(context)))
            .map_err(|e| template_error(name, &e))
    }
}

/// The file for a custom template name, with the template loader's rule: no segment may start
/// with a dot (no `..`, no hidden files) or hold a backslash.
fn custom_path(dir: &std::path::Path, name: &str) -> Option<PathBuf> {
    let mut path = dir.to_path_buf();
    for segment in name.split('/') {
        if segment.starts_with('.') || segment.contains('\\') {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

fn template_error(name: &str, error: &minijinja::Error) -> MailError {
    let mut message = error.to_string();
    if let Some(line) = error.line() {
        if !message.contains("line") {
            message.push_str(&format!(" (line {line})"));
        }
    }
    MailError::Template {
        template: name.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> Value {
        json!({
            "url": "https://id.example.com/if/flow/recovery/?flow_token=abc&x=<y>",
            "user": {"name": "Ann <b>Admin</b>", "username": "ann", "email": "ann@example.com"},
            "expires": "2026-12-01T03:00:00Z",
            "token": "abc",
            "code": "123456",
            "title": "A title",
            "body": "Something happened",
        })
    }

    #[test]
    fn every_builtin_renders_both_parts() {
        let templates = Templates::new(None);
        for name in BUILTIN_TEMPLATES {
            let rendered = templates.render(name, &context()).unwrap();
            assert!(rendered.html.contains("<html"), "{name}: {}", rendered.html);
            let text = rendered.text.unwrap_or_default();
            assert!(!text.is_empty(), "{name} has no text part");
            assert!(
                !text.contains("<html") && !text.contains("&lt;"),
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let rendered = Templates::new(None)
            .render("email/password_reset.html", &context())
            .unwrap();
        assert!(
            rendered.html.contains("Ann &lt;b&gt;Admin&lt;&#x2f;b&gt;"),
            "{}",
            rendered.html
        );
        assert!(!rendered.html.contains("<b>Admin"));
        assert!(rendered.html.contains("flow_token=abc&amp;x=&lt;y&gt;"));
        let text = rendered.text.unwrap_or_default();
        assert!(text.contains("https://id.example.com/if/flow/recovery/?flow_token=abc&x=<y>"));
    }

    #[test]
    fn the_otp_mail_carries_the_code() {
        let rendered = Templates::new(None)
            .render("email/email_otp.html", &context())
            .unwrap();
        assert!(rendered.html.contains("123456"));
        assert!(rendered.text.unwrap_or_default().contains("123456"));
    }

    #[test]
    fn unknown_templates_are_refused_with_authentiks_message() {
        let templates = Templates::new(None);
        let err = templates.check("email/nope.html").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid template 'email/nope.html' specified."
        );
        // Layouts are embedded but not selectable.
        assert!(templates.check("email/base.html").is_err());
        assert!(matches!(
            templates.render("../etc/passwd", &context()),
            Err(MailError::UnknownTemplate(_))
        ));
    }

    #[test]
    fn custom_templates_load_from_the_directory_and_report_syntax_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("custom")).unwrap();
        std::fs::write(
            dir.path().join("custom/hello.html"),
            "{% extends \"email/base.html\" %}{% block content %}Hi {{ user.name }}{% endblock %}",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("custom/broken.html"),
            "<p>{{ user.name </p>",
        )
        .unwrap();
        std::fs::write(dir.path().join(".hidden.html"), "x").unwrap();
        let templates = Templates::new(Some(dir.path().to_path_buf()));

        let rendered = templates.render("custom/hello.html", &context()).unwrap();
        assert!(
            rendered.html.contains("Hi Ann &lt;b&gt;"),
            "{}",
            rendered.html
        );
        assert_eq!(rendered.text, None);

        let err = templates
            .render("custom/broken.html", &context())
            .unwrap_err();
        assert!(
            matches!(&err, MailError::Template { template, message }
                if template == "custom/broken.html" && message.contains("syntax error")),
            "{err:?}"
        );
        assert!(templates.check(".hidden.html").is_err());
        assert!(templates.check("custom/missing.html").is_err());
    }
}
