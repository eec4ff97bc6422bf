//! What both interpreters share: an evaluation outcome and the engine interface.

use crate::case::Case;

/// How one evaluation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The script ran; the text is `_kf_verdict_text` ("ok" or what differed from `expect`).
    Verdict(String),
    /// Compiling or running raised; the text is the exception, last line first.
    Error(String),
}

/// One interpreter, ready to evaluate policies.
pub trait Engine: Sized {
    /// A case compiled for this engine, to be run many times.
    type Compiled;

    /// Engine name as shown in tables ("monty", "rustpython").
    const NAME: &'static str;

    /// Creates the interpreter with the prelude loaded. Errors: the prelude failed.
    fn start(limits: &Limits) -> Result<Self, String>;

    /// Compiles one case (its request part and the policy body).
    fn compile(&self, case: &Case) -> Result<Self::Compiled, String>;

    /// Runs a compiled case once, with a fresh request environment.
    fn run(&self, compiled: &Self::Compiled) -> Outcome;

    /// Compiles and runs in one go.
    fn evaluate(&self, case: &Case) -> Outcome {
        match self.compile(case) {
            Ok(compiled) => self.run(&compiled),
            Err(error) => Outcome::Error(error),
        }
    }
}

/// The limits an evaluation runs under (what keyflow's binding would set).
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: std::time::Duration,
    /// Bytes; monty only (RustPython has no memory limit to set).
    pub max_memory: Option<usize>,
    pub max_recursion: usize,
}

/// The most telling line of an interpreter's error text: the last non-empty one
/// (`ValueError: not allowed`), which is where both engines put the exception itself.
pub fn summary(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
        .to_owned()
}
