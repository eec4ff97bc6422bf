//! Compares monty and RustPython as keyflow's expression engine (issue #12): how much of the
//! expression corpus each runs unchanged, start-up and per-call cost, peak RSS, and what each
//! does with runaway or hostile policies.
//!
//! Usage: `expr-engines [--corpus PATH] [--runs N] [--startup-runs N] [--skip-probes]`.
//! Every measurement runs in a child process (this binary re-executed with `child ...`), so a
//! crash or hang in one engine is recorded instead of losing the report.

mod case;
mod engine;
mod monty_engine;
mod probes;
mod rustpython_engine;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use case::Case;
use engine::{Engine, Limits, Outcome, summary};
use monty_engine::MontyEngine;
use rustpython_engine::RustPythonEngine;

/// monty's memory limit only works with its counting allocator installed (and armed).
#[global_allocator]
static ALLOC: monty_alloc::LimitedAllocator = monty_alloc::LimitedAllocator;

/// What a tokio worker thread gets; evaluations in keyflow run on one.
const WORKER_STACK: usize = 2 * 1024 * 1024;
/// Address-space cap for each child, so a probe cannot take the machine's memory.
const CHILD_ADDRESS_SPACE: u64 = 4 * 1024 * 1024 * 1024;
const PROBE_MEMORY_LIMIT: usize = 64 * 1024 * 1024;

/// The three expressions timed per call: a plain one, one that calls helpers with a
/// generator, one that imports `re`.
const BENCH_CASES: [&str; 3] = [
    "identity check with \"is not None\"",
    "client address outside any trusted network, with any() and a generator",
    "f-string with a format spec and an expression inside",
];

struct Options {
    corpus: PathBuf,
    runs: usize,
    startup_runs: usize,
    skip_probes: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("child") {
        child_main(&args[1..])
    } else {
        parse_options(&args).and_then(|options| report(&options))
    };
    if let Err(error) = result {
        eprintln!("expr-engines: {error}");
        std::process::exit(2);
    }
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        corpus: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../../shared/spec/expressions/corpus.yaml"
        )),
        runs: 2000,
        startup_runs: 20,
        skip_probes: false,
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--corpus" => options.corpus = PathBuf::from(value()?),
            "--runs" => options.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--startup-runs" => {
                options.startup_runs = value()?
                    .parse()
                    .map_err(|e| format!("--startup-runs: {e}"))?
            }
            "--skip-probes" => options.skip_probes = true,
            other if !other.starts_with("--") => options.corpus = PathBuf::from(other),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// Parent: run the children, print the report.
// ---------------------------------------------------------------------------------------------

/// What a child process left behind.
struct ChildRun {
    stdout: String,
    stderr: String,
    status: Option<ExitStatus>,
    killed_after: Option<Duration>,
    elapsed: Duration,
    peak_rss_kib: u64,
}

impl ChildRun {
    fn how_it_ended(&self) -> String {
        if let Some(after) = self.killed_after {
            return format!("hang (killed after {:.0} s)", after.as_secs_f64());
        }
        match self.status {
            Some(status) if status.success() => "exit 0".to_owned(),
            Some(status) => match status.signal() {
                Some(signal) => format!("crash: signal {signal} ({})", signal_name(signal)),
                None => format!("crash: exit code {}", status.code().unwrap_or(-1)),
            },
            None => "unknown".to_owned(),
        }
    }

    fn lines<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = Vec<&'a str>> + 'a {
        self.stdout.lines().filter_map(move |line| {
            line.strip_prefix(tag)
                .map(|rest| rest.split('\t').collect())
        })
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        7 => "SIGBUS",
        _ => "signal",
    }
}

/// Runs this binary as `child <args>` under an address-space cap and a wall-clock limit,
/// sampling its peak RSS while it runs.
fn run_child(args: &[&str], wall_limit: Duration) -> Result<ChildRun, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut command = Command::new(exe);
    command
        .arg("child")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: CHILD_ADDRESS_SPACE,
                rlim_max: CHILD_ADDRESS_SPACE,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|e| format!("spawn child: {e}"))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let mut peak_rss_kib = 0;
    let mut killed_after = None;
    let status = loop {
        if let Some(kib) = proc_status_kib(child.id(), "VmHWM:") {
            peak_rss_kib = peak_rss_kib.max(kib);
        }
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > wall_limit => {
                killed_after = Some(started.elapsed());
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("wait for child: {e}")),
        }
    };
    let elapsed = started.elapsed();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    // The child reports its own final VmHWM too; sampling alone can miss a short peak.
    for line in stdout.lines() {
        if let Some(kib) = line
            .strip_prefix("RSS\t")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            peak_rss_kib = peak_rss_kib.max(kib);
        }
    }
    Ok(ChildRun {
        stdout,
        stderr,
        status,
        killed_after,
        elapsed,
        peak_rss_kib,
    })
}

fn read_in_background<R: Read + Send + 'static>(
    pipe: Option<R>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// A `kB` field of /proc/<pid>/status (`VmHWM:`, `VmRSS:`).
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let file = std::fs::File::open(format!("/proc/{pid}/status")).ok()?;
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
}

fn report(options: &Options) -> Result<(), String> {
    let cases = case::load(&options.corpus)?;
    let corpus = options.corpus.to_string_lossy().into_owned();
    println!("# expr-engines: monty 0.0.23 vs RustPython 0.6\n");
    println!("corpus: {corpus} ({} cases)\n", cases.len());

    // 1. The corpus, one child per engine.
    let mut columns = Vec::new();
    for engine in ["monty", "rustpython"] {
        let run = run_child(&["corpus", engine, &corpus], Duration::from_secs(300))?;
        let mut verdicts = vec![None; cases.len()];
        for fields in run.lines("CASE\t") {
            if let (Some(index), Some(ok), Some(text)) = (
                fields.first().and_then(|i| i.parse::<usize>().ok()),
                fields.get(1),
                fields.get(2),
            ) && index < verdicts.len()
            {
                verdicts[index] = Some((*ok == "ok", text.to_string()));
            }
        }
        let ended = run.how_it_ended();
        let filled: Vec<(bool, String)> = verdicts
            .into_iter()
            .map(|v| v.unwrap_or_else(|| (false, format!("no result: child {ended}"))))
            .collect();
        if !run.stderr.trim().is_empty() && ended != "exit 0" {
            eprintln!("{engine} corpus child stderr:\n{}", run.stderr);
        }
        columns.push(filled);
    }
    println!("## Corpus: each expression unchanged, as a function body\n");
    println!("| # | case | monty | rustpython | why not |");
    println!("|---|---|---|---|---|");
    for (index, case) in cases.iter().enumerate() {
        let (monty_ok, monty_text) = &columns[0][index];
        let (rp_ok, rp_text) = &columns[1][index];
        let mut why = Vec::new();
        if !monty_ok {
            why.push(format!("monty: {}", cell(monty_text)));
        }
        if !rp_ok {
            why.push(format!("rustpython: {}", cell(rp_text)));
        }
        println!(
            "| {} | {} | {} | {} | {} |",
            index + 1,
            cell(&case.name),
            mark(*monty_ok),
            mark(*rp_ok),
            why.join("<br>")
        );
    }
    let passed = |column: &Vec<(bool, String)>| column.iter().filter(|(ok, _)| *ok).count();
    println!(
        "\n**passed: monty {}/{}, rustpython {}/{}**\n",
        passed(&columns[0]),
        cases.len(),
        passed(&columns[1]),
        cases.len()
    );

    // 2. Cost, one child per engine.
    println!(
        "## Cost (release build, child process per engine, worker thread with a 2 MiB stack)\n"
    );
    let runs = options.runs.to_string();
    let startup_runs = options.startup_runs.to_string();
    let mut metric_rows: Vec<(String, String, String)> = Vec::new();
    let mut metrics_by_engine = Vec::new();
    for engine in ["monty", "rustpython"] {
        let run = run_child(
            &["bench", engine, &corpus, &runs, &startup_runs],
            Duration::from_secs(900),
        )?;
        if run.how_it_ended() != "exit 0" {
            eprintln!(
                "{engine} bench child {}:\n{}",
                run.how_it_ended(),
                run.stderr
            );
        }
        let metrics: Vec<(String, String)> = run
            .lines("METRIC\t")
            .filter(|f| f.len() >= 2)
            .map(|f| (f[0].to_owned(), f[1].to_owned()))
            .collect();
        metrics_by_engine.push(metrics);
    }
    for (key, _) in &metrics_by_engine[0] {
        let lookup = |metrics: &Vec<(String, String)>| {
            metrics
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or("–".to_owned())
        };
        metric_rows.push((
            key.clone(),
            lookup(&metrics_by_engine[0]),
            lookup(&metrics_by_engine[1]),
        ));
    }
    for (key, value) in &metrics_by_engine[1] {
        if !metric_rows.iter().any(|(k, _, _)| k == key) {
            metric_rows.push((key.clone(), "–".to_owned(), value.clone()));
        }
    }
    println!("| measure | monty | rustpython |");
    println!("|---|---|---|");
    for (key, monty, rustpython) in &metric_rows {
        println!("| {key} | {monty} | {rustpython} |");
    }
    println!();

    // 3. Limit probes, one child per probe and engine.
    if !options.skip_probes {
        println!(
            "## Limits and host access (one child per cell; limits: 2 s, 64 MiB where the engine has one, recursion 1000; child capped at 4 GiB address space, killed after 15 s)\n"
        );
        println!("| probe | monty | monty (allocator armed) | rustpython |");
        println!("|---|---|---|---|");
        for probe in probes::PROBES {
            let mut cells = Vec::new();
            for engine in ["monty", "monty-armed", "rustpython"] {
                if engine == "monty-armed" && !probes::uses_memory(probe.name) {
                    cells.push("(same)".to_owned());
                    continue;
                }
                let run = run_child(&["probe", engine, probe.name], Duration::from_secs(15))?;
                cells.push(probe_cell(&run));
            }
            println!(
                "| {} | {} | {} | {} |",
                cell(probe.what),
                cells[0],
                cells[1],
                cells[2]
            );
        }
        println!();
    }
    Ok(())
}

/// One probe result: how it ended, in how long, at what peak RSS, with what text.
fn probe_cell(run: &ChildRun) -> String {
    let timing = format!(
        "{:.2} s, {} MB",
        run.elapsed.as_secs_f64(),
        run.peak_rss_kib / 1024
    );
    let ended = run.how_it_ended();
    if ended != "exit 0" {
        let last = summary(&run.stderr);
        return format!("**{ended}** ({timing}) {}", cell(&truncate(&last, 90)));
    }
    match run.lines("PROBE\t").next() {
        Some(fields) if fields.len() >= 2 => {
            let label = match fields[0] {
                "error" => "error",
                _ => "returned",
            };
            format!("{label}: {} ({timing})", cell(&truncate(fields[1], 90)))
        }
        _ => format!("no result ({timing})"),
    }
}

fn mark(ok: bool) -> &'static str {
    if ok { "pass" } else { "FAIL" }
}

/// Text fit for one markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

// ---------------------------------------------------------------------------------------------
// Children: do one job on a worker-sized stack and print tagged lines.
// ---------------------------------------------------------------------------------------------

fn child_main(args: &[String]) -> Result<(), String> {
    let args = args.to_vec();
    let worker = std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(move || child_job(&args))
        .map_err(|e| format!("spawn worker: {e}"))?;
    let result = worker
        .join()
        .map_err(|_| "worker thread panicked".to_owned())?;
    if let Some(kib) = proc_status_kib(std::process::id(), "VmHWM:") {
        println!("RSS\t{kib}");
    }
    result
}

fn child_job(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match (arg(0), arg(1)) {
        ("corpus", "monty") => child_corpus::<MontyEngine>(arg(2)),
        ("corpus", "rustpython") => child_corpus::<RustPythonEngine>(arg(2)),
        ("bench", engine) => {
            let runs: usize = arg(3).parse().map_err(|e| format!("runs: {e}"))?;
            let startup_runs: usize = arg(4).parse().map_err(|e| format!("startup runs: {e}"))?;
            match engine {
                "monty" => child_bench::<MontyEngine>(arg(2), runs, startup_runs),
                "rustpython" => child_bench::<RustPythonEngine>(arg(2), runs, startup_runs),
                other => Err(format!("unknown engine {other}")),
            }
        }
        ("probe", engine) => child_probe(engine, arg(2)),
        _ => Err(format!("unknown child job {args:?}")),
    }
}

fn corpus_limits() -> Limits {
    Limits {
        timeout: Duration::from_secs(1),
        max_memory: None,
        max_recursion: 1000,
    }
}

fn child_corpus<E: Engine>(corpus: &str) -> Result<(), String> {
    let cases = case::load(std::path::Path::new(corpus))?;
    let engine = E::start(&corpus_limits())?;
    for (index, case) in cases.iter().enumerate() {
        let (ok, text) = judge(case, &engine.evaluate(case));
        println!(
            "CASE\t{index}\t{}\t{}",
            if ok { "ok" } else { "fail" },
            cell(&text)
        );
    }
    Ok(())
}

/// Whether an outcome is what the case expects, and the text to show when not.
fn judge(case: &Case, outcome: &Outcome) -> (bool, String) {
    match (case.expects_error(), outcome) {
        (true, Outcome::Error(error)) => (true, summary(error)),
        (false, Outcome::Verdict(verdict)) if verdict == "ok" => (true, String::new()),
        (_, Outcome::Verdict(verdict)) => (false, verdict.clone()),
        (false, Outcome::Error(error)) => (false, summary(error)),
    }
}

fn child_bench<E: Engine>(corpus: &str, runs: usize, startup_runs: usize) -> Result<(), String> {
    let cases = case::load(std::path::Path::new(corpus))?;
    let limits = Limits {
        timeout: Duration::from_secs(30),
        max_memory: None,
        max_recursion: 1000,
    };
    let rss_before = proc_status_kib(std::process::id(), "VmRSS:").unwrap_or(0);

    // Start-up: a new interpreter with the prelude loaded, then compiling one policy.
    let started = Instant::now();
    let engine = E::start(&limits)?;
    let start_cost = started.elapsed();
    let first_case = cases.first().ok_or("empty corpus")?;
    let started = Instant::now();
    let compiled = engine.compile(first_case)?;
    let compile_cost = started.elapsed();
    let started = Instant::now();
    let first = engine.run(&compiled);
    let first_run_cost = started.elapsed();
    if !judge(first_case, &first).0 {
        return Err(format!("first case failed: {first:?}"));
    }

    // Warm per-call cost of three representative policies.
    let mut per_call = Vec::new();
    for name in BENCH_CASES {
        let case = cases
            .iter()
            .find(|c| c.name == name)
            .ok_or(format!("no case {name:?}"))?;
        let label = format!("per call, warm: {}", truncate(name, 40));
        let compiled = match engine.compile(case) {
            Ok(compiled) => compiled,
            Err(error) => {
                per_call.push((label, format!("does not compile: {}", summary(&error))));
                continue;
            }
        };
        let outcome = engine.run(&compiled);
        if !judge(case, &outcome).0 {
            per_call.push((
                label,
                format!("fails: {}", truncate(&summary(&format!("{outcome:?}")), 60)),
            ));
            continue;
        }
        let timings = time_runs(runs, || {
            engine.run(&compiled);
        });
        per_call.push((label, timings));
    }
    let rss_warm = proc_status_kib(std::process::id(), "VmHWM:").unwrap_or(0);

    // What one more live engine costs: ten more, each with a compiled policy, kept alive.
    let rss_one = proc_status_kib(std::process::id(), "VmRSS:").unwrap_or(0);
    let mut kept = Vec::new();
    for _ in 0..10 {
        let extra = E::start(&limits)?;
        let compiled = extra.compile(first_case)?;
        extra.run(&compiled);
        kept.push((extra, compiled));
    }
    let rss_eleven = proc_status_kib(std::process::id(), "VmRSS:").unwrap_or(0);
    drop(kept);
    let rss_after_drop = proc_status_kib(std::process::id(), "VmRSS:").unwrap_or(0);

    // Cold start to a first result, repeated for a stable figure (after the RSS readings).
    let cold = time_runs(startup_runs, || {
        if let Ok(fresh) = E::start(&limits)
            && let Ok(compiled) = fresh.compile(first_case)
        {
            fresh.run(&compiled);
        }
    });
    let rss_after_cold = proc_status_kib(std::process::id(), "VmRSS:").unwrap_or(0);

    let start_label = if E::NAME == "monty" {
        "none: monty has no interpreter to create (limits only)".to_owned()
    } else {
        micros(start_cost)
    };
    println!(
        "METRIC\tstart-up: new interpreter with the prelude run (RustPython only)\t{start_label}"
    );
    println!(
        "METRIC\tcompile one policy (monty: prelude + request + policy; RustPython: request + policy)\t{}",
        micros(compile_cost)
    );
    println!(
        "METRIC\tfirst evaluation after compiling\t{}",
        micros(first_run_cost)
    );
    println!(
        "METRIC\tcold start to first result: start + compile + run (median / p95 of {startup_runs})\t{cold}"
    );
    for (label, value) in per_call {
        println!("METRIC\t{label} (median / p95 of {runs})\t{value}");
    }
    if E::NAME == "monty" {
        let prelude_only = MontyEngine::compile_prelude_only()?;
        let monty = MontyEngine::start(&limits)?;
        let timings = time_runs(runs, || {
            monty.run(&prelude_only);
        });
        println!(
            "METRIC\tmonty floor: a run of the prelude alone (median / p95 of {runs})\t{timings}"
        );
    }
    if E::NAME == "rustpython" {
        let rustpython = RustPythonEngine::start(&limits)?;
        let case = cases
            .iter()
            .find(|c| c.name == BENCH_CASES[0])
            .ok_or("no first bench case")?;
        let compiled = rustpython.compile_isolated(case)?;
        let outcome = rustpython.run_isolated(&compiled);
        let value = if judge(case, &outcome).0 {
            time_runs(runs, || {
                rustpython.run_isolated(&compiled);
            })
        } else {
            format!("fails: {}", truncate(&summary(&format!("{outcome:?}")), 60))
        };
        println!(
            "METRIC\tRustPython isolated like monty: prelude re-run per call, first case (median / p95 of {runs})\t{value}"
        );
    }
    println!("METRIC\tRSS before start-up\t{} MB", rss_before / 1024);
    println!(
        "METRIC\tpeak RSS (VmHWM) after start-up + warm runs\t{} MB",
        rss_warm / 1024
    );
    println!(
        "METRIC\tRSS per extra live engine with one compiled policy (10 kept)\t{:.1} MB",
        rss_eleven.saturating_sub(rss_one) as f64 / 10.0 / 1024.0
    );
    let created = startup_runs + startup_runs.min(10);
    println!(
        "METRIC\tRSS left behind per engine created and dropped ({created} cold starts)\t{:.1} MB",
        rss_after_cold.saturating_sub(rss_after_drop) as f64 / created as f64 / 1024.0
    );
    Ok(())
}

/// Runs `f` `runs` times (after 10 warm-up runs) and formats "median / p95".
fn time_runs(runs: usize, mut f: impl FnMut()) -> String {
    for _ in 0..runs.min(10) {
        f();
    }
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!("{} / {}", micros(at(0.5)), micros(at(0.95)))
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// Runs one probe; the `leak` probe runs a second request on the same engine and reports that.
fn run_probe<E: Engine>(limits: &Limits, case: &Case) -> Result<Outcome, String> {
    let engine = E::start(limits)?;
    let first = engine.evaluate(case);
    if case.name != "leak" {
        return Ok(first);
    }
    Ok(engine.evaluate(&Case::adhoc("leak-check", probes::LEAK_CHECK)))
}

fn child_probe(engine: &str, name: &str) -> Result<(), String> {
    let probe = probes::PROBES
        .iter()
        .find(|p| p.name == name)
        .ok_or(format!("no probe {name}"))?;
    let case = Case::adhoc(probe.name, probe.body);
    let limits = Limits {
        timeout: Duration::from_secs(2),
        max_memory: Some(PROBE_MEMORY_LIMIT),
        max_recursion: 1000,
    };
    let outcome = match engine {
        "monty" => run_probe::<MontyEngine>(&limits, &case)?,
        "monty-armed" => {
            monty_alloc::set_limit(Some(PROBE_MEMORY_LIMIT), false)?;
            run_probe::<MontyEngine>(&limits, &case)?
        }
        "rustpython" => run_probe::<RustPythonEngine>(&limits, &case)?,
        other => return Err(format!("unknown engine {other}")),
    };
    match outcome {
        Outcome::Error(error) => println!("PROBE\terror\t{}", cell(&summary(&error))),
        Outcome::Verdict(verdict) => println!("PROBE\treturned\t{}", cell(&verdict)),
    }
    Ok(())
}
