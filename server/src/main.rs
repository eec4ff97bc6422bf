//! The `keyflow` command.

use clap::{Parser, Subcommand};
use keyflow::config::Config;
use tracing_subscriber::EnvFilter;

/// keyflow — an identity flow engine (authentik-compatible flow executor).
///
/// Environment: DATABASE_URL, LEPTOS_SITE_ADDR, KEYFLOW_SECRET_KEY, KEYFLOW_BOOTSTRAP_PASSWORD,
/// KEYFLOW_BOOTSTRAP_EMAIL, KEYFLOW_BOOTSTRAP_TOKEN, KEYFLOW_LOG_LEVEL (see `keyflow serve --help`).
#[derive(Parser)]
#[command(name = "keyflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply or export blueprints (flows as data, in authentik's format).
    Blueprint {
        #[command(subcommand)]
        command: keyflow::blueprints::cli::BlueprintCommand,
    },
    /// Flow tools: `flow lint SLUG` checks a flow (exit code 1 when it finds an error).
    Flow {
        #[command(subcommand)]
        command: keyflow::admin::lint::FlowCommand,
    },
    /// Internal: an expression sandbox worker, started by the server (stdin/stdout protocol).
    #[command(hide = true)]
    SandboxWorker {
        /// Memory a program may use, in bytes.
        #[arg(long)]
        max_memory_bytes: u64,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A worker is single-threaded and logs nothing on stdout (its protocol channel): it starts
    // before the runtime and the log subscriber.
    if let Some(Command::SandboxWorker { max_memory_bytes }) = cli.command {
        return keyflow::sandbox::worker::main(max_memory_bytes);
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(error) => {
            eprintln!("keyflow: cannot start the async runtime: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> std::process::ExitCode {
    let filter =
        EnvFilter::try_new(&cli.config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    if matches!(
        cli.command,
        Some(Command::Blueprint { .. } | Command::Flow { .. })
    ) {
        // Standard output carries the command's result (an exported YAML): logs go elsewhere.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command.unwrap_or(Command::Serve)
    {
        Command::Serve => keyflow::server::serve(cli.config).await.map_err(Into::into),
        Command::Blueprint { command } => keyflow::blueprints::cli::run(&cli.config, command)
            .await
            .map_err(Into::into),
        Command::Flow { command } => {
            match keyflow::admin::lint::run_cli(&cli.config, command).await {
                Ok(true) => Ok(()),
                // Findings were printed; an error among them fails the command.
                Ok(false) => return std::process::ExitCode::FAILURE,
                Err(error) => Err(error.into()),
            }
        }
        Command::SandboxWorker { .. } => Ok(()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "keyflow stopped");
            eprintln!("keyflow: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
