//! The local stand-ins for outside services (`end2end/fakes/serve.py`: captcha providers,
//! Twilio and an SMS webhook, Duo) as a child process on a free 127.0.0.1 port, with helpers for their `/_fake/…`
//! controls.
//!
//! ```ignore
//! let fakes = Fakes::start().await;
//! fakes.captcha_site(json!({"site_key": "site", "secret": "s3cret"})).await;
//! let token = fakes.captcha_token("site").await;
//! // point a captcha stage's api_url at fakes.url("/recaptcha/api/siteverify") …
//! let seen = fakes.captcha_verifications().await;
//! ```

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{python, repo_root};

/// The running fakes; killed when dropped.
pub struct Fakes {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    http: reqwest::Client,
    _child: Child,
}

impl Fakes {
    /// Starts the fakes on a port of their choosing; returns once they listen.
    pub async fn start() -> Self {
        let script = repo_root().join("end2end/fakes/serve.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("fakes' stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line.strip_prefix("READY ") {
                    return port.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("the fakes did not start (run .ci/setup)");
        Fakes {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            _child: child,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON to a control path; panics unless it answers 2xx.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("reach the fakes");
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {answer}");
        answer
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("reach the fakes")
            .json()
            .await
            .expect("JSON from the fakes")
    }

    /// Registers (or replaces) a captcha site: `{"site_key", "secret", "provider", "version",
    /// "score", "action", "delay_ms", "broken"}` (see `end2end/fakes/captcha.py`).
    pub async fn captcha_site(&self, site: Value) {
        self.post("/_fake/captcha/sites", site).await;
    }

    /// A token for `site_key`, as the provider's widget gets one when solved.
    pub async fn captcha_token(&self, site_key: &str) -> String {
        let answer = self
            .post(
                "/_fake/captcha/tokens",
                serde_json::json!({"site_key": site_key}),
            )
            .await;
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Every siteverify call the fake received, oldest first.
    pub async fn captcha_verifications(&self) -> Vec<Value> {
        match self.get("/_fake/captcha/verifications").await {
            Value::Array(calls) => calls,
            other => panic!("verifications: {other}"),
        }
    }

    /// Every SMS the fake gateways received (accepted or refused), oldest first.
    pub async fn sms_messages(&self) -> Vec<Value> {
        match self.get("/_fake/sms/messages").await {
            Value::Array(messages) => messages,
            other => panic!("messages: {other}"),
        }
    }
}
