//! The `soe-bot` command line: wiring only; everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use soe_bot::config::{Config, EncryptionKey};

#[derive(Parser)]
#[command(name = "soe-bot", version, about = "A Discord bot for a Stack Overflow Enterprise site")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local fake SOE site with seeded data (no accounts needed).
    Demo,
    /// Print the effective configuration with secrets redacted; exit 2 on any problem.
    CheckConfig {
        /// The configuration file.
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// Print a new random storage encryption key (base64, 32 bytes).
    Keygen,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Keygen) => {
            println!("{}", EncryptionKey::generate_base64());
            ExitCode::SUCCESS
        }
        Some(Command::CheckConfig { config }) => check_config(&config),
        Some(Command::Demo) | None => run_async(demo()),
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match Config::load(Some(path)) {
        Ok(cfg) => {
            print!("{}", cfg.redacted());
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{} problem(s) in {}:", problems.len(), path.display());
            for p in problems {
                eprintln!("  - {p}");
            }
            ExitCode::from(2)
        }
    }
}

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn demo() -> anyhow::Result<()> {
    use soe_bot::clock::SystemClock;
    use soe_bot::fake_soe::{Approval, FakeSoe, FakeSoeConfig};
    let mut cfg = FakeSoeConfig::new(std::sync::Arc::new(SystemClock));
    cfg.approval = Approval::ConsentPage;
    let fake = FakeSoe::start(cfg).await?;
    println!("Fake SOE site running at {}", fake.site_url());
    println!("  API base:       {}", fake.api_base());
    println!("  OAuth:          {}oauth", fake.site_url());
    println!("  questions:      {}", fake.questions().len());
    for q in fake.questions() {
        println!("    #{:<3} {}", q.id, q.title);
    }
    println!("Try: curl -H 'Authorization: Bearer <token>' {}/questions/3", fake.api_base());
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
