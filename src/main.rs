//! The `soe-bot` command line: wiring only; everything else lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use soe_bot::config::{Config, EncryptionKey, LogFormat};
use soe_bot::maintenance;
use soe_bot::run::init_tracing;
use soe_bot::soe::ServiceToken;
use soe_bot::store::open::OpenStore;

#[derive(Parser)]
#[command(
    name = "soe-bot",
    version,
    about = "A Discord bot for a Stack Overflow Enterprise site"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bot (the default).
    Run {
        /// The configuration file.
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// A local fake SOE site with seeded data, the bot's web server and a console. No accounts.
    Demo {
        /// Run the console lines in FILE instead of reading the keyboard; exit 1 if one fails.
        #[arg(long)]
        script: Option<PathBuf>,
    },
    /// Print the effective configuration with secrets redacted; exit 2 on any problem.
    CheckConfig {
        /// The configuration file.
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// Print a new random storage encryption key (base64, 32 bytes).
    Keygen,
    /// Mint the bot's read-only, non-expiring service token through the site's OAuth page.
    ServiceToken {
        /// The configuration file (soe.site_url, soe.client_id; storage.* with --store).
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
        /// Store the token sealed in the bot's storage instead of printing it.
        #[arg(long)]
        store: bool,
        /// Where this command listens for the site's redirect to soe.service_redirect_url
        /// (default: web.listen, where that URL's proxy already points; stop the bot first).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Also ask for the grant of this private team (repeatable). `soe.team` and the teams
        /// bound to channels (read from the storage) are always asked for.
        #[arg(long = "team", value_name = "SLUG")]
        teams: Vec<String>,
    },
    /// Check the site, the service token, the API application and the bot's permissions in
    /// every configured channel; post a test card in each audit channel. Exit 1 when
    /// something is wrong.
    Doctor {
        /// The configuration file.
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// Register the slash and message commands with Discord (per guild if configured).
    RegisterCommands {
        /// The configuration file.
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// Probe a running bot's web server (for container health checks): exit 0 when
    /// `/healthz` answers 200 within 5 s, else 1.
    Health {
        /// The URL to probe.
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: url::Url,
    },
    /// Write a consistent copy of the store to FILE (tokens and drafts stay sealed), whether
    /// the bot is running or not.
    Backup {
        /// Where to write it (must not exist yet; created 0600).
        file: PathBuf,
        /// The configuration file (storage.*).
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// Restore a backup FILE into an empty storage.path (stop the bot first).
    Restore {
        /// A file written by `soe-bot backup`.
        file: PathBuf,
        /// The configuration file (storage.*; the keys the backup was sealed with).
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// Copy the whole store between backends, records still sealed: sled to PostgreSQL or
    /// back. The target must be empty; counts are checked per tree. Stop the bot first.
    MigrateStore {
        /// Where to copy from: sled:PATH or postgres:URL (`sled` / `postgres` alone: the
        /// configured storage.path / storage.url).
        #[arg(long)]
        from: soe_bot::maintenance::StoreLocation,
        /// Where to copy to (an empty store): sled:PATH or postgres:URL.
        #[arg(long)]
        to: soe_bot::maintenance::StoreLocation,
        /// The configuration file (storage.encryption_key and storage.previous_keys: the keys
        /// the records are sealed with).
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
    /// Re-seal every record under storage.encryption_key (keep the old key in
    /// storage.previous_keys until it finishes; safe to run again after an interruption).
    RotateKey {
        /// The configuration file (storage.*).
        #[arg(long, default_value = "bot.toml")]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Keygen) => {
            println!("{}", EncryptionKey::generate_base64());
            ExitCode::SUCCESS
        }
        Some(Command::CheckConfig { config }) => check_config(&config),
        Some(Command::Demo { script }) => {
            init_tracing(LogFormat::Text, "warn", rust_log().as_deref());
            run_async(async move {
                let code = soe_bot::console::demo::run(script.as_deref())
                    .await
                    .map_err(anyhow::Error::msg)?;
                Ok(u8::try_from(code).unwrap_or(1))
            })
        }
        Some(Command::ServiceToken {
            config,
            store,
            listen,
            teams,
        }) => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logging(&cfg);
            run_async(service_token(cfg, store, listen, teams))
        }
        Some(Command::RegisterCommands { config }) => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_logging(&cfg);
            run_async(async move {
                soe_bot::discord::register_commands(&cfg.discord, &soe_bot::run::site_name(&cfg))
                    .await
                    .map_err(anyhow::Error::msg)?;
                println!("commands registered");
                Ok(0)
            })
        }
        Some(Command::Doctor { config }) => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            init_tracing(cfg.log.format, &cfg.log.filter, rust_log().as_deref());
            run_async(async move {
                let (report, healthy) = soe_bot::run::doctor(cfg)
                    .await
                    .map_err(anyhow::Error::msg)?;
                println!("{report}");
                Ok(if healthy { 0 } else { 1 })
            })
        }
        Some(Command::Health { url }) => run_async(async move {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()?;
            let status = client.get(url.clone()).send().await?.status();
            if status.is_success() {
                Ok(0)
            } else {
                eprintln!("{url} answered {status}");
                Ok(1)
            }
        }),
        Some(Command::Backup { file, config }) => with_config(&config, |cfg| {
            run_async(async move {
                maintenance::backup(cfg, file)
                    .await
                    .map_err(anyhow::Error::msg)
            })
        }),
        Some(Command::Restore { file, config }) => with_config(&config, |cfg| {
            run_async(async move {
                maintenance::restore(cfg, file)
                    .await
                    .map_err(anyhow::Error::msg)
            })
        }),
        Some(Command::RotateKey { config }) => with_config(&config, |cfg| {
            run_async(async move {
                maintenance::rotate_key(cfg)
                    .await
                    .map_err(anyhow::Error::msg)
            })
        }),
        Some(Command::MigrateStore { from, to, config }) => with_config(&config, |cfg| {
            run_async(async move {
                maintenance::migrate_store(&cfg.storage, &from, &to)
                    .await
                    .map_err(anyhow::Error::msg)
            })
        }),
        Some(Command::Run { config }) => run_bot(&config),
        None => run_bot(Path::new("bot.toml")),
    }
}

/// Logging as configured, then the one warning about ignored `SOE_BOT_*` variables.
fn init_logging(cfg: &Config) {
    init_tracing(cfg.log.format, &cfg.log.filter, rust_log().as_deref());
    if let Some(warning) = cfg.ignored_env_warning() {
        tracing::warn!("{warning}");
    }
}

/// `RUST_LOG`, which overrides `log.filter` (the quiet dependencies stay quiet either way).
fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG").ok()
}

/// Loads the configuration and logging, then runs `f`.
fn with_config(path: &Path, f: impl FnOnce(Config) -> ExitCode) -> ExitCode {
    match load(path) {
        Ok(cfg) => {
            init_logging(&cfg);
            f(cfg)
        }
        Err(code) => code,
    }
}

fn load(path: &Path) -> Result<Config, ExitCode> {
    Config::load(Some(path)).map_err(|problems| {
        eprintln!(
            "{} problem(s) in the configuration ({}):",
            problems.len(),
            path.display()
        );
        for p in problems {
            eprintln!("  - {p}");
        }
        ExitCode::from(2)
    })
}

fn check_config(path: &Path) -> ExitCode {
    match load(path) {
        Ok(cfg) => {
            if let Some(warning) = cfg.ignored_env_warning() {
                eprintln!("warning: {warning}");
            }
            print!("{}", cfg.redacted());
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn run_async(fut: impl std::future::Future<Output = anyhow::Result<u8>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn service_token(
    cfg: Config,
    store: bool,
    listen: Option<std::net::SocketAddr>,
    named_teams: Vec<String>,
) -> anyhow::Result<u8> {
    let named: Vec<soe_bot::soe::TeamSlug> = named_teams
        .iter()
        .map(|t| {
            soe_bot::soe::TeamSlug::parse(t).ok_or_else(|| {
                anyhow::anyhow!("--team {t:?} is not a team slug (lowercase letters, digits and dashes, as in the team's URL)")
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // The teams bound to channels live in the storage (a running bot holds it); opened once
    // here and kept for --store.
    let opened = OpenStore::open(&cfg.storage).await;
    let (store_now, guilds) = match &opened {
        Ok(o) => (Some(o.store()), cfg.discord.allowed_guilds.as_slice()),
        Err(e) => {
            println!("Could not read the teams bound to channels from the storage ({e}); asking for soe.team and any --team only. Stop the bot, or name each bound team with --team.");
            (None, &[][..])
        }
    };
    let teams = soe_bot::link::service_token::teams_to_grant(
        cfg.default_team.as_ref(),
        store_now.as_deref(),
        guilds,
        &named,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !teams.is_empty() {
        println!(
            "Asking for the grant of the private team(s): {}.",
            teams
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let soe = soe_bot::run::soe_client(&cfg).map_err(anyhow::Error::msg)?;
    let listen = listen.unwrap_or(cfg.web.listen);
    let redirect = cfg.soe.service_redirect_url.clone();
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!(
            "cannot listen on {listen} for the site's redirect to {redirect}. If the bot is running there, stop it for the minute this takes, or pass --listen ADDR for an address that {redirect} also reaches"
        )
    })?;
    let team_scopes = teams
        .iter()
        .map(|t| soe_bot::soe::team_scope(&cfg.soe.team_scope_format, &cfg.soe.site_url, t));
    let request = soe_bot::link::service_token::MintRequest {
        client_id: cfg.soe.client_id.clone(),
        redirect_uri: redirect.clone(),
        scopes: soe_bot::link::service_token::service_scopes(team_scopes),
    };
    let minted = soe_bot::link::service_token::mint(
        &soe,
        &request,
        listener,
        |url| {
            println!("Sign in to the site as the bot's service account (not as yourself), then open:\n\n  {url}\n");
            println!("The site will send your browser to {redirect}, which must reach this command on {listen}.");
            println!("Waiting for it (5 minutes)…");
        },
        std::time::Duration::from_secs(300),
    )
    .await
    .map_err(anyhow::Error::msg)?;
    println!(
        "Minted a read-only, non-expiring token for SOE user {} (id {}).",
        minted.user.name,
        minted.user.id.unwrap_or_default()
    );
    if store {
        let opened = opened.map_err(|e| anyhow::anyhow!("{e}"))?;
        opened
            .store()
            .put_service_token(&ServiceToken::new(minted.token))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "Stored it sealed in {}. Set soe.use_stored_service_token = true.",
            opened.shown()
        );
    } else {
        println!("Put it in SOE_BOT_SOE__SERVICE_TOKEN or a file named by soe.service_token_file. It is shown once:\n");
        println!("{}", minted.token.expose_secret());
    }
    Ok(0)
}

fn run_bot(path: &Path) -> ExitCode {
    let cfg = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_logging(&cfg);
    run_async(async move {
        soe_bot::run::run(cfg)
            .await
            .map(|()| 0)
            .map_err(anyhow::Error::msg)
    })
}
