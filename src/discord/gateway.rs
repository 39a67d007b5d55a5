//! Gateway mode: a serenity client on one shard with the `GUILDS` intent (enough for every
//! interaction, and it delivers `GUILD_CREATE`).
//!
//! On the first `Ready` the commands are registered (in the background, retried with backoff);
//! every interaction runs the shared
//! [`Flow`] in the event's own task (serenity spawns one per event), answering through the
//! REST callback. On every `GUILD_CREATE` (each guild at startup, and a guild the bot is added
//! to) the bot leaves a guild that is not in `discord.allowed_guilds`
//! ([`leave_if_not_allowed`]). The background tasks (drafts posted after linking, tag refresh,
//! sweeping) run for the client's lifetime with a [`DiscordNotifier`] sharing the client's REST
//! client and ratelimiter, which also serves the DM gate's membership look-ups.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serenity::all::{
    ClientBuilder, ConnectionStage, Context, EventHandler, GatewayIntents, Guild, Interaction,
    Ready, ShardId, ShardManager, ShardStageUpdateEvent,
};
use tokio::sync::mpsc::UnboundedReceiver;

use super::members::{leave_if_not_allowed, RestMembers};
use super::notify::DiscordNotifier;
use super::registration;
use super::respond::{respond_via_rest, Flow};
use super::rest;
use super::DiscordError;
use crate::app::App;
use crate::config::DiscordConfig;
use crate::lifecycle::{DiscordStatus, Health, GATEWAY_CLOSE_GRACE};
use crate::link::Linked;

struct Handler {
    app: Arc<App>,
    config: DiscordConfig,
    /// Set on the first `Ready`: registration is started once per process.
    registered: AtomicBool,
    /// `Ready` events seen. Every one after the first comes from serenity restarting the shard
    /// (a new IDENTIFY after op 9, a failed resume, a missed heartbeat), and each restart leaves
    /// a stale message behind that [`close_shards`] must drain first.
    readies: Arc<AtomicUsize>,
    /// The connection's state for `/readyz`, and the registration's.
    health: Arc<Health>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, about: Ready) {
        self.readies.fetch_add(1, Ordering::SeqCst);
        tracing::info!(
            guilds = about.guilds.len(),
            "connected to the Discord gateway"
        );
        self.health.set_discord(DiscordStatus::Connected);
        if !self.registered.swap(true, Ordering::SeqCst) {
            // In the background, retried: existing registrations keep working meanwhile. Not
            // work in flight: shutdown does not wait for it (the runtime ends it).
            tokio::spawn(registration::register_with_retry(
                ctx.http.clone(),
                self.config.clone(),
                self.app.commands.site.name.clone(),
                self.health.clone(),
                registration::Backoff::default(),
            ));
        }
    }

    async fn guild_create(&self, ctx: Context, guild: Guild, _is_new: Option<bool>) {
        leave_if_not_allowed(
            &ctx.http,
            self.app.commands.access().policy(),
            guild.id.get(),
        )
        .await;
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        let status = if event.new == ConnectionStage::Connected {
            DiscordStatus::Connected
        } else {
            tracing::info!(stage = %event.new, "the gateway shard is reconnecting");
            DiscordStatus::Reconnecting(event.new.to_string())
        };
        self.health.set_discord(status);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        // Counted as work in flight, so shutdown waits for it (serenity runs each event in its
        // own task, which this cannot own).
        let _working = self.app.in_flight.token();
        let flow = Flow {
            app: self.app.clone(),
            http: ctx.http.clone(),
        };
        respond_via_rest(&flow, &interaction).await;
    }
}

/// Runs the gateway client until `shutdown` resolves (or the gateway fails for good), with
/// the background tasks fed by `linked` (from [`App::build`]). `health` follows the shard's
/// connection (for `/readyz`) and the command registration. The REST client is built from
/// `config` (see [`rest::build_http`]) and shared by the gateway, the replies and the DM
/// notices.
///
/// On `shutdown` the shards are told to close and the client is awaited (up to
/// [`GATEWAY_CLOSE_GRACE`]) so their close frames go out before the process ends. A close
/// that ends the client for good (4004, 4013, 4014) is an error that says what to fix.
pub async fn run_gateway(
    app: Arc<App>,
    config: &DiscordConfig,
    linked: UnboundedReceiver<Linked>,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DiscordError> {
    gateway(app, config, Some(linked), health, shutdown).await
}

/// [`run_gateway`] for a replica that leads others: the gateway connection and the
/// notification loops only, while the background tasks (posting after linking, sweeps, the
/// tag list) run on every replica apart from it. Called each time this replica becomes the
/// leader; `shutdown` resolves on a stop signal or when leadership is lost.
pub async fn run_gateway_leading(
    app: Arc<App>,
    config: &DiscordConfig,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DiscordError> {
    gateway(app, config, None, health, shutdown).await
}

async fn gateway(
    app: Arc<App>,
    config: &DiscordConfig,
    linked: Option<UnboundedReceiver<Linked>>,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DiscordError> {
    let http = rest::build_http(
        config.token.expose_secret(),
        config.application_id,
        &config.api_base,
    )?;
    let readies = Arc::new(AtomicUsize::new(0));
    let handler = Handler {
        app: app.clone(),
        config: config.clone(),
        registered: AtomicBool::new(false),
        readies: readies.clone(),
        health: health.clone(),
    };
    let mut client = ClientBuilder::new_with_http(http, GatewayIntents::GUILDS)
        .event_handler(handler)
        .await
        .map_err(|e| DiscordError::Gateway(rest::describe(&e)))?;
    app.commands
        .access()
        .use_directory(Arc::new(RestMembers::new(client.http.clone())));
    app.commands
        .use_server(Arc::new(super::server::RestServer::new(
            client.http.clone(),
        )));
    let cards = Arc::new(super::cards::DiscordCards::new(client.http.clone()));
    app.commands.use_channel_directory(cards.clone());
    let mut tasks = match linked {
        Some(linked) => {
            app.spawn_background(linked, Arc::new(DiscordNotifier::new(client.http.clone())))
        }
        None => Vec::new(),
    };
    tasks.extend(app.spawn_notifications(cards, app.poll_settings()));
    let shards = client.shard_manager.clone();
    let start = client.start();
    tokio::pin!(start);
    let result = tokio::select! {
        r = &mut start => r.map_err(|e| DiscordError::Gateway(rest::describe(&e))),
        () = shutdown => {
            tracing::info!("closing the gateway connection");
            close_shards(&shards, readies.load(Ordering::SeqCst).saturating_sub(1)).await;
            // The runners send their close frames; the client returns once they are done.
            if tokio::time::timeout(GATEWAY_CLOSE_GRACE, &mut start).await.is_err() {
                tracing::warn!("the gateway did not close within {GATEWAY_CLOSE_GRACE:?}; stopping anyway");
            }
            Ok(())
        }
    };
    health.set_discord(DiscordStatus::Stopped);
    for t in tasks {
        t.abort();
    }
    result
}

/// Tells every shard to close with 1000, after draining what `restarts` shard restarts left
/// behind.
///
/// serenity 0.12.5's `ShardManager::restart_shard` waits for the old runner's "shutdown
/// finished" (which never comes: that runner is the one waiting), gives up after 5 s, boots a
/// new runner, and then sends that "finished" message itself. It stays queued, so a later
/// `shutdown_all` takes it as the new runner's answer and ends the client before the runner's
/// close frame is out: the gateway sees the connection drop (1006) instead of a close. A
/// shutdown of a shard id no runner has consumes one stale message each (it is a no-op for the
/// runners); then `shutdown_all` waits for the real answer.
async fn close_shards(shards: &ShardManager, restarts: usize) {
    for _ in 0..restarts {
        shards.shutdown(ShardId(u32::MAX), 1000).await;
    }
    shards.shutdown_all().await;
}
