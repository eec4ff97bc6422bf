//! A real SMTP server for tests: `end2end/smtp_sink.py` (aiosmtpd) as a child process on a free
//! 127.0.0.1 port, writing every accepted message into a temporary directory.
//!
//! ```ignore
//! let mut sink = SmtpSink::start().await;
//! // point keyflow at 127.0.0.1:sink.port …
//! let mails = sink.wait_for(1, Duration::from_secs(10)).await;
//! assert_eq!(mails[0].header("Subject"), Some("Hello"));
//! sink.stop();            // the port refuses connections now
//! sink.start_again().await; // same port, same directory
//! ```
//!
//! Python: see [`super::python`] (aiosmtpd comes from `.ci/requirements.txt`).

use std::path::PathBuf;

use super::{python, repo_root};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One delivered message, as the sink parsed it.
#[derive(Clone, Debug, Deserialize)]
pub struct ReceivedMail {
    /// SMTP envelope sender and recipients.
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The message as received (headers and encoded body).
    pub raw: String,
    /// Decoded header values in order, e.g. `("Subject", "Hello")`.
    pub headers: Vec<(String, String)>,
    /// The decoded `text/plain` and `text/html` parts.
    pub text: Option<String>,
    pub html: Option<String>,
}

impl ReceivedMail {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The running (or stopped) sink. Stopped and cleaned up when dropped.
pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl SmtpSink {
    /// Starts a sink on a free port; returns once it accepts connections.
    pub async fn start() -> Self {
        let mut sink = Self::stopped();
        sink.start_again().await;
        sink
    }

    /// A sink that is not running yet (its port refuses connections): call
    /// [`SmtpSink::start_again`] to start it on that port.
    pub fn stopped() -> Self {
        SmtpSink {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir"),
            child: None,
        }
    }

    /// Starts (again) on the same port and directory; returns once it is listening.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the SMTP sink is already running");
        let script = repo_root().join("end2end/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--port", &self.port.to_string(), "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("sink stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("READY") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(ready, Ok(true)),
            "the SMTP sink did not start (is aiosmtpd installed? run .ci/setup)"
        );
        self.child = Some(child);
    }

    /// Stops the server (kills the process and waits for it); delivered mails stay readable.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Every message delivered so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read the sink directory")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("read a delivered mail");
                serde_json::from_str(&text).expect("parse a delivered mail")
            })
            .collect()
    }

    /// Waits until at least `count` messages arrived (panics after `timeout`), then returns all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} mails within {timeout:?}, got {}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
