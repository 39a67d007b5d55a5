//! Gateway mode: a serenity client on one shard with the `GUILDS` intent (enough for every
//! interaction, and it delivers `GUILD_CREATE`).
//!
//! On the first `Ready` the commands are registered; every interaction runs the shared
//! [`Flow`] in the event's own task (serenity spawns one per event), answering through the
//! REST callback. On every `GUILD_CREATE` (each guild at startup, and a guild the bot is added
//! to) the bot leaves a guild that is not in `discord.allowed_guilds`
//! ([`leave_if_not_allowed`]). The background tasks (drafts posted after linking, tag refresh,
//! sweeping) run for the client's lifetime with a [`DiscordNotifier`] sharing the client's REST
//! client and ratelimiter, which also serves the DM gate's membership look-ups.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serenity::all::{
    ClientBuilder, ConnectionStage, Context, EventHandler, GatewayIntents, Guild, Interaction,
    Ready, ShardStageUpdateEvent,
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
use crate::link::Linked;

struct Handler {
    app: Arc<App>,
    config: DiscordConfig,
    registered: AtomicBool,
    ready: Arc<AtomicBool>,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, about: Ready) {
        tracing::info!(
            guilds = about.guilds.len(),
            "connected to the Discord gateway"
        );
        self.ready.store(true, Ordering::SeqCst);
        if !self.registered.swap(true, Ordering::SeqCst) {
            if let Err(e) =
                registration::register(&ctx.http, &self.config, &self.app.commands.site.name).await
            {
                // Existing registrations keep working; `soe-bot register-commands` retries.
                tracing::error!(error = %e, "command registration failed");
            }
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
        self.ready
            .store(event.new == ConnectionStage::Connected, Ordering::SeqCst);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let flow = Flow {
            app: self.app.clone(),
            http: ctx.http.clone(),
        };
        respond_via_rest(&flow, &interaction).await;
    }
}

/// Runs the gateway client until `shutdown` resolves (or the gateway fails for good), with
/// the background tasks fed by `linked` (from [`App::build`]). `ready` is true while the shard
/// is connected (for `/readyz`). The REST client is built from `config` (see
/// [`rest::build_http`]) and shared by the gateway, the replies and the DM notices.
pub async fn run_gateway(
    app: Arc<App>,
    config: &DiscordConfig,
    linked: UnboundedReceiver<Linked>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), DiscordError> {
    let http = rest::build_http(
        config.token.expose_secret(),
        config.application_id,
        &config.api_base,
    )?;
    let handler = Handler {
        app: app.clone(),
        config: config.clone(),
        registered: AtomicBool::new(false),
        ready: ready.clone(),
    };
    let mut client = ClientBuilder::new_with_http(http, GatewayIntents::GUILDS)
        .event_handler(handler)
        .await
        .map_err(|e| DiscordError::Gateway(rest::describe(&e)))?;
    app.commands
        .access()
        .use_directory(Arc::new(RestMembers::new(client.http.clone())));
    let tasks = app.spawn_background(linked, Arc::new(DiscordNotifier::new(client.http.clone())));
    let shards = client.shard_manager.clone();
    let result = tokio::select! {
        r = client.start() => r.map_err(|e| DiscordError::Gateway(rest::describe(&e))),
        () = shutdown => {
            tracing::info!("stopping the gateway client");
            shards.shutdown_all().await;
            Ok(())
        }
    };
    ready.store(false, Ordering::SeqCst);
    for t in tasks {
        t.abort();
    }
    result
}
