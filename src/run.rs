//! `soe-bot run`: the production wiring of store, SOE client, app, web server and Discord.
//!
//! Startup fails closed with a clear message (store locked or wrong key, no service token);
//! shutdown (Ctrl-C or SIGTERM) stops Discord and the web server, then flushes the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::app::{App, AppParts};
use crate::clock::SystemClock;
use crate::commands::SiteInfo;
use crate::config::{Config, DiscordMode};
use crate::link::LinkSettings;
use crate::soe::{HttpConnector, HttpSoe, ServiceToken, SoeClientConfig};
use crate::store::{SledStore, Store};

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

/// Runs the bot until a shutdown signal.
pub async fn run(cfg: Config) -> Result<(), String> {
    let store = Arc::new(SledStore::open(&cfg.storage).map_err(|e| e.to_string())?);
    let service = match &cfg.soe.service_token {
        Some(t) => ServiceToken::new(t.clone()),
        None => store
            .service_token()
            .map_err(|e| e.to_string())?
            .ok_or("soe.service_token is not set and none is stored; mint one with `soe-bot service-token --store`")?,
    };
    let soe = soe_client(&cfg)?;
    let clock = Arc::new(SystemClock);
    let (app, linked) = App::build(AppParts {
        store: store.clone(),
        clock: clock.clone(),
        soe: soe.clone(),
        connector: Arc::new(HttpConnector::new(soe.clone(), service)),
        link: LinkSettings {
            site_url: cfg.soe.site_url.clone(),
            client_id: cfg.soe.client_id.clone(),
            public_url: cfg.web.public_url.clone(),
            allow_no_expiry: cfg.soe.allow_no_expiry,
            teams: cfg.default_team.iter().cloned().collect(),
            team_scope_format: cfg.soe.team_scope_format.clone(),
        },
        site: SiteInfo {
            name: site_name(&cfg),
            url: cfg.soe.site_url.clone(),
            team: cfg.default_team.clone(),
        },
        limits: cfg.limits.clone(),
        admin_roles: cfg.discord.admin_roles.clone(),
    })?;

    let discord_ready = Arc::new(AtomicBool::new(false));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let http = crate::discord::http_client(&cfg.discord).map_err(|e| e.to_string())?;
    let extra = match cfg.discord.mode {
        DiscordMode::Http => {
            let key = cfg.discord.public_key.clone().unwrap_or_default();
            discord_ready.store(true, Ordering::SeqCst);
            Some(
                crate::discord::interactions_router(app.clone(), &key, http.clone(), clock.clone())
                    .map_err(|e| e.to_string())?,
            )
        }
        DiscordMode::Gateway => None,
    };
    let ready_store = store.clone();
    let ready_flag = discord_ready.clone();
    let router = crate::web::router(crate::web::WebState {
        link: app.link.clone(),
        ready: Arc::new(move || {
            ready_flag.load(Ordering::SeqCst) && ready_store.guild_settings(0).is_ok()
        }),
        extra,
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

    let result = match cfg.discord.mode {
        DiscordMode::Gateway => {
            let mut gw_stop = stop_rx.clone();
            let stop = async move {
                let _ = gw_stop.changed().await;
            };
            let signal = tokio::spawn(async move {
                shutdown_signal().await;
                let _ = stop_tx.send(true);
            });
            let r =
                crate::discord::run_gateway(app.clone(), &cfg.discord, linked, discord_ready, stop)
                    .await
                    .map_err(|e| e.to_string());
            signal.abort();
            r
        }
        DiscordMode::Http => {
            crate::discord::register(&http, &cfg.discord)
                .await
                .map_err(|e| e.to_string())?;
            let tasks = app.spawn_background(
                linked,
                Arc::new(crate::discord::DiscordNotifier::new(http.clone())),
            );
            shutdown_signal().await;
            let _ = stop_tx.send(true);
            for t in tasks {
                t.abort();
            }
            Ok(())
        }
    };
    let _ = web.await;
    let flush = tokio::task::spawn_blocking(move || store.flush()).await;
    if let Ok(Err(e)) = flush {
        tracing::error!(error = %e, "final flush failed");
    }
    result
}
