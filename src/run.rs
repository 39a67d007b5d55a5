//! `soe-bot run`: the production wiring of store, SOE client, app, web server and Discord.
//!
//! Startup fails closed with a clear message (store locked or wrong key, no service token);
//! command registration runs in the background, retried, and never stops the bot serving.
//! Shutdown (Ctrl-C or SIGTERM) stops taking work (the web server stops accepting, the
//! gateway sends its close frames, `/readyz` answers 503), waits a bounded time for the
//! interactions in flight ([`crate::lifecycle::SHUTDOWN_GRACE`]), then flushes the store and
//! returns (exit 0).
//! Logging ([`init_tracing`]) keeps the dependencies whose verbose output carries tokens at
//! `warn` whatever the configured filter says ([`log_filter`]).

use std::sync::Arc;

use crate::app::{App, AppParts};
use crate::clock::SystemClock;
use crate::commands::{AccessPolicy, SiteInfo};
use tracing::Subscriber;
use tracing_subscriber::filter::combinator::And;
use tracing_subscriber::filter::{EnvFilter, FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::{Config, DiscordMode, LogFormat};
use crate::lifecycle::{DiscordStatus, Health, SHUTDOWN_GRACE};
use crate::link::LinkSettings;
use crate::soe::{HttpConnector, HttpSoe, ServiceToken, SoeClientConfig};
use crate::store::open::OpenStore;
use crate::store::{SledStore, Store};

/// Dependencies that log at `warn` at most, whatever `log.filter` or `RUST_LOG` say. Below
/// that, serenity's request spans carry the interaction token (live for 15 minutes) on every
/// line logged inside a Discord call, and the HTTP and TLS stacks print request URLs (where
/// interaction tokens are path segments) and connection internals.
pub const QUIET_DEPENDENCIES: [&str; 8] = [
    "serenity",
    "h2",
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "tungstenite",
    "tokio_tungstenite",
];

/// The production log filter: `RUST_LOG` when set and valid, else `configured` (`log.filter`),
/// and in every case [`QUIET_DEPENDENCIES`] capped at `warn`.
///
/// The cap is a second filter every span and event must also pass, not a directive appended
/// to the first: a more specific directive (`serenity::http=trace`) or a span directive
/// (`[request]=trace`) would win over an appended `serenity=warn`. Also returns a note to log
/// when `RUST_LOG` was set but could not be parsed.
pub fn log_filter<S>(
    configured: &str,
    rust_log: Option<&str>,
) -> (And<EnvFilter, Targets, S>, Option<String>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let from_env = rust_log
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(EnvFilter::try_new);
    let (chosen, note) = match from_env {
        Some(Ok(filter)) => (Some(filter), None),
        Some(Err(_)) => (
            None,
            Some("RUST_LOG is not a valid filter; using log.filter instead".to_string()),
        ),
        None => (None, None),
    };
    let chosen = chosen.unwrap_or_else(|| {
        EnvFilter::try_new(configured).unwrap_or_else(|_| EnvFilter::new("info"))
    });
    let cap = QUIET_DEPENDENCIES
        .iter()
        .fold(Targets::new().with_default(LevelFilter::TRACE), |t, dep| {
            t.with_target(*dep, LevelFilter::WARN)
        });
    (chosen.and(cap), note)
}

/// Installs the process-wide tracing subscriber (stdout, text or JSON) with [`log_filter`].
/// `rust_log` is the `RUST_LOG` environment variable, read by `main`.
pub fn init_tracing(format: LogFormat, configured: &str, rust_log: Option<&str>) {
    let (filter, note) = log_filter(configured, rust_log);
    let lines = tracing_subscriber::fmt::layer().with_target(true);
    let installed = match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(lines.json().with_filter(filter))
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(lines.with_filter(filter))
            .try_init(),
    };
    if let (Ok(()), Some(note)) = (installed, note) {
        tracing::warn!("{note}");
    }
}

/// The SOE client as the config describes it.
pub fn soe_client(cfg: &Config) -> Result<Arc<HttpSoe>, String> {
    let mut c = SoeClientConfig::new(cfg.soe.site_url.clone());
    c.connect_timeout = std::time::Duration::from_secs(cfg.soe.connect_timeout_secs);
    c.request_timeout = std::time::Duration::from_secs(cfg.soe.request_timeout_secs);
    c.encoded_fields = cfg.soe.encoded_fields;
    if let Some(contact) = &cfg.soe.contact {
        c.user_agent = format!("{} ({contact})", c.user_agent);
    }
    HttpSoe::new(c).map_err(|e| e.to_string())
}

/// A site name for replies: the host without the `stackenterprise.co` suffix.
pub fn site_name(cfg: &Config) -> String {
    let host = cfg.soe.site_url.host_str().unwrap_or("Stack Overflow");
    match host.split('.').next() {
        Some(first) if host.ends_with("stackenterprise.co") => {
            let mut c = first.chars();
            match c.next() {
                Some(f) => format!("{}{} Stack Overflow", f.to_uppercase(), c.as_str()),
                None => "Stack Overflow".into(),
            }
        }
        _ => host.to_string(),
    }
}

/// Who may use the bot where, from `discord.*`.
pub fn access_policy(cfg: &Config) -> AccessPolicy {
    AccessPolicy {
        allowed_guilds: cfg.discord.allowed_guilds.clone(),
        allow_dms: cfg.discord.allow_dms,
        admin_roles: cfg.discord.admin_roles.clone(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Discord OAuth2 settings for the linking flow, unless the operator turned the check off.
fn discord_identity(cfg: &Config) -> Option<crate::link::discord::DiscordOAuthSettings> {
    if !cfg.link.verify_discord_identity {
        tracing::warn!("link.verify_discord_identity is false: linking does not prove which Discord account is at the browser");
        return None;
    }
    Some(crate::link::discord::DiscordOAuthSettings {
        base: cfg.discord.api_base.clone(),
        client_id: cfg.discord.application_id.to_string(),
        client_secret: cfg.discord.client_secret.clone()?,
    })
}

/// The service token: `soe.service_token`, else the one stored by
/// `soe-bot service-token --store`.
async fn service_token(cfg: &Config, store: &dyn Store) -> Result<ServiceToken, String> {
    match &cfg.soe.service_token {
        Some(t) => Ok(ServiceToken::new(t.clone())),
        None => store
            .service_token()
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "soe.service_token is not set and none is stored; mint one with `soe-bot service-token --store`".to_string()),
    }
}

/// The app as `run` and `doctor` wire it from `cfg`, on `store`.
fn build_app(
    cfg: &Config,
    store: Arc<dyn Store>,
    service: ServiceToken,
    clock: crate::clock::SharedClock,
) -> Result<
    (
        Arc<App>,
        tokio::sync::mpsc::UnboundedReceiver<crate::link::Linked>,
    ),
    String,
> {
    let soe = soe_client(cfg)?;
    App::build(AppParts {
        store,
        clock,
        soe: soe.clone(),
        connector: Arc::new(HttpConnector::new(soe.clone(), service)),
        link: LinkSettings {
            site_url: cfg.soe.site_url.clone(),
            client_id: cfg.soe.client_id.clone(),
            public_url: cfg.web.public_url.clone(),
            allow_no_expiry: cfg.soe.allow_no_expiry,
            discord: discord_identity(cfg),
            teams: cfg.default_team.iter().cloned().collect(),
            team_scope_format: cfg.soe.team_scope_format.clone(),
        },
        site: SiteInfo {
            name: site_name(cfg),
            url: cfg.soe.site_url.clone(),
            team: cfg.default_team.clone(),
        },
        limits: cfg.limits.clone(),
        access: access_policy(cfg),
    })
}

/// `soe-bot doctor`: the report of `/so-admin doctor` for every allowed guild, printed for a
/// terminal, with a test card in each guild's audit channel. Returns the report's text and
/// whether everything passed. The storage is normally held by the running bot (sled lets one
/// process open it): then the checks read a consistent snapshot the bot sends over its
/// control socket (the `backup` that `soe-bot backup` uses), restored into a private scratch
/// store that is removed afterwards; if no snapshot can be had, the report says the store
/// could not be read (a failure) and checks only what needs no store.
pub async fn doctor(cfg: Config) -> Result<(String, bool), String> {
    use crate::commands::doctor::Status;
    let mut notes: Vec<(Status, String)> = Vec::new();
    let mut scratch = None;
    let mut unreadable = None;
    let store: Arc<dyn Store> = match OpenStore::open(&cfg.storage).await {
        Ok(opened) => opened.store(),
        Err(crate::store::StoreError::Locked { .. }) => {
            let dir = scratch_dir()?;
            scratch = Some(dir.clone());
            let s = Arc::new(
                SledStore::open_at(
                    &dir,
                    crate::store::cipher::Cipher::from_config(&cfg.storage),
                    1 << 20,
                )
                .map_err(|e| e.to_string())?,
            );
            match snapshot_of_running_bot(&cfg, s.clone()).await {
                Ok(records) => notes.push((
                    Status::Ok,
                    format!("The storage is in use by the running bot: this report reads a snapshot of it ({records} records) taken over its control socket."),
                )),
                Err(e) => unreadable = Some(e),
            }
            s
        }
        Err(e) => return Err(e.to_string()),
    };
    let result = doctor_on(&cfg, store, notes, unreadable.as_deref()).await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let report = result?;
    Ok((report.render_plain(), report.healthy()))
}

/// The checks of [`doctor`] on `store` (the bot's, or a scratch copy of it), with `notes`
/// appended; `unreadable` (why the store could not be read) limits them to what needs no
/// store.
async fn doctor_on(
    cfg: &Config,
    store: Arc<dyn Store>,
    notes: Vec<(crate::commands::doctor::Status, String)>,
    unreadable: Option<&str>,
) -> Result<crate::commands::doctor::Report, String> {
    use crate::commands::doctor::{self, Status};
    let service = match (unreadable, &cfg.soe.service_token) {
        (Some(why), None) => {
            return Err(format!(
                "the bot's storage could not be read ({why}), and the service token is stored there (soe.service_token is not set): nothing can be checked"
            ))
        }
        _ => service_token(cfg, store.as_ref()).await?,
    };
    let (app, _linked) = build_app(cfg, store.clone(), service, Arc::new(SystemClock))?;
    let http = crate::discord::http_client(&cfg.discord).map_err(|e| e.to_string())?;
    app.commands
        .use_server(Arc::new(crate::discord::server::RestServer::new(http)));
    if let Some(why) = unreadable {
        return Ok(doctor::check_without_store(&app.commands, why).await);
    }
    let guilds = access_policy(cfg).allowed_guilds;
    let mut report = doctor::check(&app.commands, &guilds, None).await;
    for (status, note) in notes {
        report.push(status, note);
    }
    let mut carded = false;
    for guild in &guilds {
        if let Ok(Some(channel)) = store.guild_settings(*guild).await.map(|s| s.audit_channel) {
            doctor::post_test_card(&app.commands, &mut report, channel).await;
            carded = true;
        }
    }
    if !carded {
        report.push(
            Status::Warn,
            "No test card posted: no guild has an audit channel. `/so-admin doctor` posts one in the channel it is run in.",
        );
    }
    Ok(report)
}

/// A new, owner-only (0700) directory for doctor's scratch store. Created here, never an
/// existing one: the snapshot it receives holds the store's (sealed) records.
fn scratch_dir() -> Result<std::path::PathBuf, String> {
    let base = std::env::temp_dir();
    let mut last = String::new();
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!(
            "soe-bot-doctor-{}-{nanos:x}{attempt}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) => {
                last = format!(
                    "cannot create a scratch directory in {}: {e}",
                    base.display()
                )
            }
        }
    }
    Err(last)
}

/// Asks the bot running on `cfg.storage.path` for a snapshot of its store over the control
/// socket and restores it into `scratch` (empty). Returns the number of records, or why it
/// could not be had.
#[cfg(unix)]
async fn snapshot_of_running_bot(cfg: &Config, scratch: Arc<SledStore>) -> Result<usize, String> {
    let json = crate::control::request(&cfg.storage.path, "backup").await?;
    let backup: crate::store::Backup = serde_json::from_str(&json)
        .map_err(|e| format!("the running bot sent something that is not a snapshot ({e})"))?;
    if backup.schema_version != crate::store::SCHEMA_VERSION {
        return Err(format!(
            "the running bot's store has schema version {}, this soe-bot reads version {}; run the doctor of the bot's own version",
            backup.schema_version,
            crate::store::SCHEMA_VERSION
        ));
    }
    tokio::task::spawn_blocking(move || scratch.restore(&backup))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("the running bot's snapshot could not be read ({e})"))
}

#[cfg(not(unix))]
async fn snapshot_of_running_bot(_cfg: &Config, _scratch: Arc<SledStore>) -> Result<usize, String> {
    Err("another process holds it, and a running bot's control socket needs a Unix system".into())
}

/// Runs the bot until a shutdown signal.
pub async fn run(cfg: Config) -> Result<(), String> {
    let opened = OpenStore::open(&cfg.storage)
        .await
        .map_err(|e| e.to_string())?;
    let store = opened.store();
    let service = service_token(&cfg, store.as_ref()).await?;
    let clock = Arc::new(SystemClock);
    // `soe-bot backup` and `rotate-key` reach a sled store through this while the bot runs
    // (a PostgreSQL store is backed up with the database's tools).
    #[cfg(unix)]
    let control = match &opened {
        OpenStore::Sled(sled) => Some(
            crate::control::listen(&cfg.storage.path, sled.clone(), clock.clone()).map_err(
                |e| {
                    format!(
                        "cannot open the control socket {}: {e}",
                        crate::control::socket_path(&cfg.storage.path).display()
                    )
                },
            )?,
        ),
        OpenStore::Postgres(_) => None,
    };
    let (app, linked) = build_app(&cfg, store.clone(), service, clock.clone())?;
    app.set_poll_settings(crate::notify::PollSettings {
        interval: std::time::Duration::from_secs(cfg.notify.poll_interval_secs),
        ..Default::default()
    });
    // With PostgreSQL the service token's budget is one bucket every replica takes from.
    if let Some(shared) = opened.shared_budget() {
        app.commands.use_global_budget(shared);
    }
    // Which replica polls (and, in gateway mode, holds the gateway): sled always leads.
    let (leadership, election) = opened.elect(&cfg.storage).map_err(|e| e.to_string())?;
    if matches!(opened, OpenStore::Postgres(_)) {
        tracing::info!(server = %opened.shown(), "state in PostgreSQL; electing the leader");
    }

    let health = Arc::new(Health::new(match cfg.discord.mode {
        // Discord calls the bot: nothing to connect.
        DiscordMode::Http => DiscordStatus::Connected,
        DiscordMode::Gateway => DiscordStatus::Connecting,
    }));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = crate::discord::http_client(&cfg.discord).map_err(|e| e.to_string())?;
    let interactions = match cfg.discord.mode {
        DiscordMode::Http => {
            let key = cfg.discord.public_key.clone().unwrap_or_default();
            Some(
                crate::discord::interactions_router(app.clone(), &key, http.clone(), clock.clone())
                    .map_err(|e| e.to_string())?,
            )
        }
        DiscordMode::Gateway => None,
    };
    let metrics = crate::telemetry::install().map(crate::telemetry::router);
    // `/metrics` on its own address when configured, else beside the other routes.
    let (metrics_here, metrics_apart) = match cfg.web.metrics_listen {
        Some(addr) => (None, metrics.map(|m| (addr, m))),
        None => (metrics, None),
    };
    let extra = match (interactions, metrics_here) {
        (Some(i), Some(m)) => Some(i.merge(m)),
        (i, m) => i.or(m),
    };
    let metrics_server = match metrics_apart {
        Some((addr, router)) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("web.metrics_listen: cannot listen on {addr}: {e}"))?;
            tracing::info!(listen = %addr, "metrics served on their own address");
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                let stop = async move {
                    let _ = stop.changed().await;
                };
                if let Err(e) = crate::web::serve(listener, router, stop).await {
                    tracing::error!(error = %e, "metrics server failed");
                }
            }))
        }
        None => None,
    };
    let ready_store = store.clone();
    let ready_health = health.clone();
    let ready_leader = leadership.clone();
    let router = crate::web::router(crate::web::WebState {
        link: app.link.clone(),
        ready: Arc::new(move || {
            let (store, health, leader) = (
                ready_store.clone(),
                ready_health.clone(),
                ready_leader.clone(),
            );
            Box::pin(async move {
                let mut report = crate::web::ReadyReport {
                    not_ready: health.not_ready(),
                    notes: health.notes(),
                };
                report.notes.push(leader.note());
                if store.guild_settings(0).await.is_err() {
                    report
                        .not_ready
                        .push("store: cannot be read (see the log)".to_string());
                }
                report
            })
        }),
        extra,
        hsts: cfg.web.hsts(),
    });
    let listener = tokio::net::TcpListener::bind(cfg.web.listen)
        .await
        .map_err(|e| format!("web.listen: cannot listen on {}: {e}", cfg.web.listen))?;
    tracing::info!(listen = %cfg.web.listen, public = %cfg.web.public_url, "web server up");
    let mut web_stop = stop_rx.clone();
    let web = tokio::spawn(async move {
        let stop = async move {
            let _ = web_stop.changed().await;
        };
        if let Err(e) = crate::web::serve(listener, router, stop).await {
            tracing::error!(error = %e, "web server failed");
        }
    });
    if let Err(e) = app.commands.refresh_tags().await {
        tracing::warn!(error = %e, "could not load the tag list yet; autocomplete starts empty");
    }

    // The signal stops taking work: the web server stops accepting, the gateway closes, the
    // endpoint refuses what still arrives.
    let stop_tx = Arc::new(stop_tx);
    let stop_health = health.clone();
    let stop_app = app.clone();
    let signal_stop = stop_tx.clone();
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        stop_health.set_stopping();
        stop_app.in_flight.close();
        let _ = signal_stop.send(true);
    });
    // Every replica: posting after linking, sweeps, the tag list. The leader only: the
    // notification poller and the outbox (and, in gateway mode, the gateway).
    let mut tasks = app.spawn_background_among(
        linked,
        Arc::new(crate::discord::DiscordNotifier::new(http.clone())),
        match opened {
            OpenStore::Sled(_) => None,
            OpenStore::Postgres(_) => Some(leadership.clone()),
        },
    );
    let result = match cfg.discord.mode {
        DiscordMode::Gateway => {
            run_gateway_while_leading(&app, &cfg, &health, &leadership, stop_rx.clone()).await
        }
        DiscordMode::Http => {
            let registration = tokio::spawn(crate::discord::registration::register_with_retry(
                http.clone(),
                cfg.discord.clone(),
                site_name(&cfg),
                health.clone(),
                crate::discord::registration::Backoff::default(),
            ));
            let lead_app = app.clone();
            let cards = Arc::new(crate::discord::cards::DiscordCards::new(http.clone()));
            tasks.push(tokio::spawn(crate::leader::while_leading(
                leadership.clone(),
                move || lead_app.spawn_notifications(cards.clone(), lead_app.poll_settings()),
                stop_rx.clone(),
            )));
            let mut stopped = stop_rx.clone();
            let _ = stopped.wait_for(|s| *s).await;
            registration.abort();
            Ok(())
        }
    };
    for t in tasks {
        t.abort();
    }
    if let Some(election) = election {
        // Steps down: the lock goes with the election's connection.
        election.abort();
    }
    // Also when the gateway ended on its own (a rejected token): stop everything else too.
    signal.abort();
    health.set_stopping();
    let _ = stop_tx.send(true);
    finish_in_flight(&app).await;
    let _ = web.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    #[cfg(unix)]
    if let Some(control) = control {
        control.abort();
        let _ = std::fs::remove_file(crate::control::socket_path(&cfg.storage.path));
    }
    let flush = crate::app::off_the_workers(async move { store.flush().await }).await;
    match flush {
        Ok(Ok(())) => tracing::info!("store flushed; stopped"),
        Ok(Err(e)) => tracing::error!(error = %e, "final flush failed"),
        Err(e) => tracing::error!(error = %e, "final flush did not run"),
    }
    result
}

/// Gateway mode: holds the gateway while this replica leads, stands by while another does,
/// until `stop` (a stop signal) turns true. With sled the process always leads, so this is
/// one gateway run. An error that ends the gateway for good (a rejected token) ends it.
async fn run_gateway_while_leading(
    app: &Arc<App>,
    cfg: &Config,
    health: &Arc<Health>,
    leadership: &crate::leader::Leadership,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    loop {
        metrics::gauge!(crate::leader::LEADER).set(if leadership.is_leader() { 1.0 } else { 0.0 });
        if !leadership.is_leader() {
            health.set_discord(DiscordStatus::Standby);
            tracing::info!("standing by: another replica holds the gateway");
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return Ok(()),
                led = leadership.wait_for(true) => if !led { return Ok(()) },
            }
        }
        metrics::gauge!(crate::leader::LEADER).set(1.0);
        health.set_discord(DiscordStatus::Connecting);
        let mut gw_stop = stop.clone();
        let lost = leadership.clone();
        let until = async move {
            tokio::select! {
                _ = gw_stop.wait_for(|s| *s) => {},
                _ = lost.wait_for(false) => {
                    tracing::warn!("leadership lost: closing the gateway");
                },
            }
        };
        crate::discord::run_gateway_leading(app.clone(), &cfg.discord, health.clone(), until)
            .await
            .map_err(|e| e.to_string())?;
        if *stop.borrow() {
            return Ok(());
        }
    }
}

/// Closes the app's work tracker (no new interaction is taken) and waits up to
/// [`SHUTDOWN_GRACE`] for the interactions in flight. One cut off after that keeps its draft
/// (stored before any post), and the next start settles it.
async fn finish_in_flight(app: &App) {
    app.in_flight.close();
    let waiting = app.in_flight.len();
    if waiting > 0 {
        tracing::info!(
            in_flight = waiting,
            "waiting for the interactions in flight"
        );
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, app.in_flight.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            in_flight = app.in_flight.len(),
            "interactions still running after {SHUTDOWN_GRACE:?}; their drafts are kept and the next start settles them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Runs `emit` under a subscriber built as production builds it (text lines), and returns
    /// what it printed.
    fn printed(configured: &str, rust_log: Option<&str>, emit: impl FnOnce()) -> String {
        let buf = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let (filter, _) = log_filter(configured, rust_log);
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || Sink(sink.clone()))
                .with_filter(filter),
        );
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buf.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What a Discord call looks like in the logs: serenity's `#[instrument]` span holding the
    /// request (with the interaction token in its route), events inside it, and the HTTP stack.
    fn a_discord_call() {
        let span = tracing::info_span!(
            target: "serenity::http::client",
            "request",
            req = "Request { route: EditOriginalInteractionResponse { token: \"CANARY-token\" } }"
        );
        span.in_scope(|| {
            tracing::debug!(target: "soe_bot::discord::rest", "own line inside the call");
            tracing::debug!(target: "serenity::http::ratelimiting", "CANARY-serenity-debug");
            tracing::debug!(target: "reqwest::connect", "CANARY-reqwest-debug");
            tracing::trace!(target: "hyper_util::client::legacy", "CANARY-hyper-trace");
            tracing::info!(target: "rustls::client", "CANARY-rustls-info");
            tracing::debug!(target: "tungstenite::protocol", "CANARY-tungstenite-debug");
            tracing::trace!(target: "h2::codec", "CANARY-h2-trace");
        });
        tracing::warn!(target: "serenity::gateway", "serenity warning shown");
        tracing::debug!(target: "soe_bot::web", "own debug line");
    }

    #[test]
    fn dependencies_stay_at_warn_whatever_the_filter_says() {
        for (configured, rust_log) in [
            ("debug", None),
            ("trace", None),
            ("trace,serenity=trace,reqwest=trace", None),
            ("info", Some("trace")),
            (
                "info",
                Some("serenity::http::client=trace,serenity=trace,debug"),
            ),
            ("info", Some("[request]=trace,debug")),
            ("debug", Some("not a [valid filter")),
        ] {
            let out = printed(configured, rust_log, a_discord_call);
            assert!(
                !out.contains("CANARY"),
                "{configured} / {rust_log:?} printed:\n{out}"
            );
            assert!(out.contains("own line inside the call"), "{out}");
            assert!(out.contains("own debug line"), "{out}");
            assert!(out.contains("serenity warning shown"), "{out}");
        }
    }

    #[test]
    fn the_configured_level_still_applies_to_the_bot_itself() {
        let out = printed("info", None, a_discord_call);
        assert!(!out.contains("own debug line"), "{out}");
        assert!(out.contains("serenity warning shown"), "{out}");
        let out = printed("info", Some("soe_bot=debug"), a_discord_call);
        assert!(out.contains("own debug line"), "RUST_LOG wins: {out}");
    }

    #[test]
    fn an_invalid_rust_log_falls_back_to_the_configured_filter_with_a_note() {
        let (_, note) = log_filter::<tracing_subscriber::Registry>("info", Some("[[["));
        assert!(note.is_some_and(|n| n.contains("RUST_LOG")));
        let (_, note) = log_filter::<tracing_subscriber::Registry>("info", Some("debug"));
        assert!(note.is_none());
        let (_, note) = log_filter::<tracing_subscriber::Registry>("info", None);
        assert!(note.is_none());
    }
}
