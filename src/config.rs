//! Configuration: `bot.toml` plus `SOE_BOT_*` environment overrides, validated once.
//!
//! Nested keys join with `__` in the environment (`SOE_BOT_DISCORD__TOKEN` sets
//! `discord.token`). Every secret may instead come from a file (`discord.token_file`), which is
//! read once at load. [`Config::load`] returns either a complete, checked [`Config`] or every
//! problem found, each naming its key and saying what to do. Invariants: secrets are
//! [`SecretString`]s (redacted in `Debug` and in [`Config::redacted`]); no code outside this
//! module reads the environment; URLs are https unless the host is loopback; a secret file
//! that other users could read or change is refused (`chmod 600`); the SOE request timeout
//! ends before a write claim can be judged abandoned ([`MAX_REQUEST_TIMEOUT_SECS`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use figment::providers::{Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::soe::{EncodedFields, TeamSlug, DEFAULT_TEAM_SCOPE_FORMAT};

/// The longest `soe.request_timeout_secs` allowed. A write is claimed before its POST and the
/// claim is judged abandoned after [`crate::store::CLAIM_STALE_SECS`] (120 s); a request still
/// running then could be posted a second time. The 30 s left over cover connecting, scheduling
/// and recording the outcome.
pub const MAX_REQUEST_TIMEOUT_SECS: u64 = crate::store::CLAIM_STALE_SECS as u64 - 30;

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The dotted key, e.g. `storage.encryption_key`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// How Discord reaches the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DiscordMode {
    /// A gateway websocket (the default; no public endpoint needed for interactions).
    #[default]
    Gateway,
    /// Discord POSTs signed interactions to `{web.public_url}/interactions`.
    Http,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The SOE site and the bot's API application.
#[derive(Debug, Clone)]
pub struct SoeConfig {
    /// Site root, e.g. `https://acme.stackenterprise.co/`.
    pub site_url: Url,
    /// The API application's client id (Settings → API applications).
    pub client_id: String,
    /// The read-only service token, when configured here rather than stored by
    /// `soe-bot service-token --store`.
    pub service_token: Option<SecretString>,
    /// Whether member links may request `no_expiry` tokens (otherwise tokens last 24 h).
    pub allow_no_expiry: bool,
    /// Contact appended to the User-Agent, as the vendor asks.
    pub contact: Option<String>,
    /// Connect timeout in seconds.
    pub connect_timeout_secs: u64,
    /// Whole-request timeout in seconds.
    pub request_timeout_secs: u64,
    /// The form of the scope that grants a private team, with `{host}` and `{team}`
    /// (`access_team|{host}/c/{team}` unless the site wants another).
    pub team_scope_format: String,
    /// Where the site sends the admin's browser back during `soe-bot service-token`: under the
    /// application's registered domain (default `{web.public_url}/oauth/service-callback`).
    pub service_redirect_url: Url,
    /// The text fields this site serves HTML-encoded (default: all; see `soe::text`).
    pub encoded_fields: EncodedFields,
}

/// Discord credentials and behaviour.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// Gateway or HTTP interactions.
    pub mode: DiscordMode,
    /// The bot token.
    pub token: SecretString,
    /// The application id (needed for registration and follow-ups).
    pub application_id: u64,
    /// Hex Ed25519 public key; required in HTTP mode.
    pub public_key: Option<String>,
    /// REST base, `https://discord.com` unless a proxy is used.
    pub api_base: Url,
    /// Guilds to register commands in instantly; empty = global registration.
    pub guild_ids: Vec<u64>,
    /// The organisation's servers: the only guilds the bot serves (it leaves any other it is
    /// added to), because its service token reads a private site. Never empty.
    pub allowed_guilds: Vec<u64>,
    /// Whether DMs (and the `BOT_DM` command context) are served, to members of an allowed
    /// guild only. Off by default: a DM has no server to vouch for the sender.
    pub allow_dms: bool,
    /// Role ids whose holders may use admin commands without Manage Server (ids, because a
    /// role name can be copied by anyone who can create roles).
    pub admin_roles: Vec<u64>,
    /// The application's OAuth2 client secret, used once per link to ask Discord which account
    /// is at the browser (`identify`). Required unless `link.verify_discord_identity = false`.
    pub client_secret: Option<SecretString>,
}

/// How members link their accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Prove the member's Discord account in the linking browser with Discord OAuth2
    /// (`identify`). On by default; turning it off re-opens link hijacking by a forwarded
    /// link (the browser cookie still applies), so the confirmation page then warns.
    pub verify_discord_identity: bool,
}

/// The bot's own web server (linking pages, health, interactions).
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Where `/metrics` is served instead of `listen`, e.g. `127.0.0.1:9090`: keeps the
    /// metrics off the address the public reaches. `None`: on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// The public https origin members' browsers reach, e.g. `https://soe-bot.example.com`.
    pub public_url: Url,
}

impl WebConfig {
    /// Whether responses carry `Strict-Transport-Security`: when members reach the bot over
    /// https (never on loopback http, where a browser would pin nothing useful).
    pub fn hsts(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// Which database holds the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// sled, embedded: one process owns `storage.path` (the default; one replica).
    #[default]
    Sled,
    /// A PostgreSQL server at `storage.url`, shared by any number of replicas.
    Postgres,
}

/// Where and how state is kept.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// sled (embedded, one process) or PostgreSQL (shared by replicas).
    pub backend: StorageBackend,
    /// The sled directory (with sled; with PostgreSQL only the control socket lives there).
    pub path: PathBuf,
    /// The PostgreSQL URL (`postgres://user:password@host/db`); set with PostgreSQL only. A
    /// secret: it may hold the password, so it is redacted everywhere.
    pub url: Option<SecretString>,
    /// Connections in this process's PostgreSQL pool (one more is held apart for the leader
    /// lock).
    pub pool_size: u32,
    /// Seconds between two checks of the leader lock: a replica that lost its connection
    /// stops leading within this, and a standby takes over within about this.
    pub leader_check_secs: u64,
    /// The current 32-byte sealing key.
    pub encryption_key: EncryptionKey,
    /// Older keys still accepted for opening records (rotation).
    pub previous_keys: Vec<EncryptionKey>,
    /// sled page cache in MiB (sled's default is 1 GiB; far too much for a bot).
    pub cache_capacity_mb: u64,
}

/// A 256-bit sealing key and its one-byte id (stored with every sealed record for rotation).
#[derive(Clone)]
pub struct EncryptionKey {
    /// The key id.
    pub id: u8,
    /// 32 bytes, shared (cloning the config must not copy key material around).
    pub bytes: std::sync::Arc<secrecy::SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey {{ id: {}, bytes: [REDACTED] }}", self.id)
    }
}

impl EncryptionKey {
    /// Decodes a base64 key (standard or URL-safe alphabet) of exactly 32 bytes.
    pub fn from_base64(id: u8, b64: &str) -> Result<Self, String> {
        let b64 = b64.trim();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64))
            .map_err(|_| {
                "must be 32 bytes of base64; create one with `soe-bot keygen`".to_string()
            })?;
        let bytes: [u8; 32] = raw.try_into().map_err(|v: Vec<u8>| {
            format!(
                "must be 32 bytes of base64 (this is {} bytes); create one with `soe-bot keygen`",
                v.len()
            )
        })?;
        Ok(Self {
            id,
            bytes: std::sync::Arc::new(secrecy::SecretBox::new(Box::new(bytes))),
        })
    }

    /// A fresh random key, base64-encoded (what `soe-bot keygen` prints).
    pub fn generate_base64() -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

/// Requests a minute SOE allows one token (the service token is shared by every member).
pub const SOE_SERVICE_CALLS_PER_MINUTE: u32 = 100;

/// Per-member and global limits.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    /// Asks a member may make in a burst.
    pub asks_burst: u32,
    /// Minutes for one more ask to become available.
    pub ask_refill_minutes: u32,
    /// Searches a member may make in a burst.
    pub searches_burst: u32,
    /// Seconds for one more search to become available.
    pub search_refill_secs: u32,
    /// Seconds a search result stays cached.
    pub search_cache_secs: u32,
    /// Hours an unposted draft is kept.
    pub draft_ttl_hours: u32,
    /// Service-token calls one member may cause per minute (their share of SOE's 100 a minute
    /// for the whole bot), so one member cannot exhaust the budget everyone reads through.
    pub member_share_per_minute: u32,
    /// Seconds between two shares to a channel by the same member.
    pub share_member_cooldown_secs: u32,
    /// Seconds between two shares to the same channel by anyone, so a channel cannot be
    /// flooded by several members either.
    pub share_channel_cooldown_secs: u32,
    /// Unposted drafts a member may keep; drafts are sealed records on disk, so this bounds
    /// what one member can store.
    pub drafts_per_member: u32,
    /// Link buttons a member may ask for in a burst (each one stores a ticket).
    pub links_burst: u32,
    /// Seconds for one more link button to become available.
    pub link_refill_secs: u32,
    /// Expert-routing DMs one expert gets a day at most (`/so experts on`).
    pub expert_dms_per_day: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            asks_burst: 3,
            ask_refill_minutes: 10,
            searches_burst: 10,
            search_refill_secs: 6,
            search_cache_secs: 60,
            draft_ttl_hours: 24,
            member_share_per_minute: 20,
            expert_dms_per_day: 3,
            share_member_cooldown_secs: 30,
            share_channel_cooldown_secs: 10,
            drafts_per_member: 20,
            links_burst: 5,
            link_refill_secs: 60,
        }
    }
}

/// Notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// Seconds between two polls of a site target (each poll is O(1) service-token calls,
    /// whatever the number of subscriptions).
    pub poll_interval_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            poll_interval_secs: 60,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Text or JSON.
    pub format: LogFormat,
    /// An `EnvFilter` directive, e.g. `info,serenity=warn`.
    pub filter: String,
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub soe: SoeConfig,
    pub discord: DiscordConfig,
    pub web: WebConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub log: LogConfig,
    /// Subscriptions' polling.
    pub notify: NotifyConfig,
    /// Linking.
    pub link: LinkConfig,
    /// Channel → private team bindings from the file (admins can also bind at runtime).
    pub default_team: Option<TeamSlug>,
    /// `SOE_BOT_*` variables that name no setting (e.g. `SOE_BOT_PORT`, which Kubernetes
    /// injects for a Service named `soe-bot`), sorted. They were ignored; the caller warns once
    /// ([`Config::ignored_env_warning`]) after logging is set up.
    pub ignored_env: Vec<String>,
}

// ---- raw, as read: everything optional so that missing keys become problems, not parse errors

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    soe: RawSoe,
    discord: RawDiscord,
    web: RawWeb,
    storage: RawStorage,
    limits: RawLimits,
    log: RawLog,
    link: RawLink,
    notify: RawNotify,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawNotify {
    poll_interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLink {
    verify_discord_identity: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSoe {
    site_url: Option<String>,
    client_id: Option<String>,
    service_token: Option<SecretString>,
    service_token_file: Option<PathBuf>,
    use_stored_service_token: Option<bool>,
    allow_no_expiry: Option<bool>,
    contact: Option<String>,
    connect_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
    team: Option<String>,
    team_scope_format: Option<String>,
    service_redirect_url: Option<String>,
    encoded_fields: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDiscord {
    mode: Option<DiscordMode>,
    token: Option<SecretString>,
    token_file: Option<PathBuf>,
    application_id: Option<u64>,
    public_key: Option<String>,
    api_base: Option<String>,
    guild_ids: Option<Vec<u64>>,
    allowed_guilds: Option<Vec<u64>>,
    allow_dms: Option<bool>,
    admin_roles: Option<Vec<RawRoleId>>,
    client_secret: Option<SecretString>,
    client_secret_file: Option<PathBuf>,
}

/// A `discord.admin_roles` entry as written: a number, or text (a role name, which is refused
/// with a pointer to the id, or digits from the environment).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoleId {
    Id(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawWeb {
    listen: Option<String>,
    metrics_listen: Option<String>,
    public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawStorage {
    backend: Option<StorageBackend>,
    url: Option<SecretString>,
    url_file: Option<PathBuf>,
    pool_size: Option<u32>,
    leader_check_secs: Option<u64>,
    path: Option<PathBuf>,
    encryption_key: Option<SecretString>,
    encryption_key_file: Option<PathBuf>,
    encryption_key_id: Option<u8>,
    previous_keys: Option<Vec<RawOldKey>>,
    cache_capacity_mb: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOldKey {
    id: u8,
    key: SecretString,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLimits {
    asks_burst: Option<u32>,
    ask_refill_minutes: Option<u32>,
    searches_burst: Option<u32>,
    search_refill_secs: Option<u32>,
    search_cache_secs: Option<u32>,
    draft_ttl_hours: Option<u32>,
    member_share_per_minute: Option<u32>,
    share_member_cooldown_secs: Option<u32>,
    share_channel_cooldown_secs: Option<u32>,
    drafts_per_member: Option<u32>,
    links_burst: Option<u32>,
    link_refill_secs: Option<u32>,
    expert_dms_per_day: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    filter: Option<String>,
}

/// The environment as a list of pairs; injected so tests never touch the real environment.
pub type EnvVars = Vec<(String, String)>;

impl Config {
    /// Reads `path` (if given; a missing file is a problem) and `SOE_BOT_*` variables from the
    /// process environment, then validates.
    pub fn load(path: Option<&Path>) -> Result<Config, Vec<ConfigProblem>> {
        Self::load_from(path, std::env::vars().collect())
    }

    /// [`Config::load`] with an explicit environment.
    pub fn load_from(path: Option<&Path>, env: EnvVars) -> Result<Config, Vec<ConfigProblem>> {
        let mut figment = Figment::new();
        if let Some(p) = path {
            if !p.exists() {
                return Err(vec![ConfigProblem {
                    key: "--config".into(),
                    message: format!(
                        "{} does not exist; copy bot.toml.example to it and fill it in",
                        p.display()
                    ),
                }]);
            }
            figment = figment.merge(Toml::file(p));
        }
        let (env, ignored_env) = split_unknown_env(env);
        let figment = figment.merge(EnvProvider { env });
        let raw: RawConfig = figment.extract().map_err(|errs| {
            errs.into_iter()
                .map(|e| ConfigProblem {
                    key: if e.path.is_empty() {
                        "(file)".into()
                    } else {
                        e.path.join(".")
                    },
                    message: format!(
                        "{}; check its spelling and type against bot.toml.example",
                        e.kind
                    ),
                })
                .collect::<Vec<_>>()
        })?;
        let mut config = raw.validate()?;
        config.ignored_env = ignored_env;
        Ok(config)
    }

    /// The one warning about [`Config::ignored_env`], naming the variables (never their values),
    /// or `None` when every `SOE_BOT_*` variable was a setting.
    pub fn ignored_env_warning(&self) -> Option<String> {
        (!self.ignored_env.is_empty()).then(|| {
            format!(
                "ignored {} environment variable(s) that name no setting: {} (Kubernetes sets SOE_BOT_PORT and SOE_BOT_SERVICE_* for a Service named soe-bot; settings use a double underscore, e.g. SOE_BOT_DISCORD__TOKEN)",
                self.ignored_env.len(),
                self.ignored_env.join(", ")
            )
        })
    }

    /// A human-readable dump with every secret replaced by `[REDACTED]` or `(unset)`.
    pub fn redacted(&self) -> String {
        let secret = |s: &Option<SecretString>| if s.is_some() { "[REDACTED]" } else { "(unset)" };
        let mut out = String::new();
        let mut line = |k: &str, v: String| {
            out.push_str(k);
            out.push_str(" = ");
            out.push_str(&v);
            out.push('\n');
        };
        line("soe.site_url", self.soe.site_url.to_string());
        line("soe.client_id", self.soe.client_id.clone());
        line("soe.service_token", secret(&self.soe.service_token).into());
        line("soe.allow_no_expiry", self.soe.allow_no_expiry.to_string());
        line(
            "soe.contact",
            self.soe.contact.clone().unwrap_or_else(|| "(unset)".into()),
        );
        line(
            "soe.connect_timeout_secs",
            self.soe.connect_timeout_secs.to_string(),
        );
        line(
            "soe.request_timeout_secs",
            self.soe.request_timeout_secs.to_string(),
        );
        line(
            "soe.team",
            self.default_team
                .as_ref()
                .map(|t| t.as_str().to_string())
                .unwrap_or_else(|| "(main site)".into()),
        );
        line("soe.team_scope_format", self.soe.team_scope_format.clone());
        line(
            "soe.service_redirect_url",
            self.soe.service_redirect_url.to_string(),
        );
        line(
            "soe.encoded_fields",
            format!("{:?}", self.soe.encoded_fields),
        );
        line(
            "discord.mode",
            format!("{:?}", self.discord.mode).to_lowercase(),
        );
        line("discord.token", "[REDACTED]".into());
        line(
            "discord.application_id",
            self.discord.application_id.to_string(),
        );
        line(
            "discord.public_key",
            self.discord
                .public_key
                .clone()
                .unwrap_or_else(|| "(unset)".into()),
        );
        line("discord.api_base", self.discord.api_base.to_string());
        line(
            "discord.client_secret",
            secret(&self.discord.client_secret).into(),
        );
        line("discord.guild_ids", format!("{:?}", self.discord.guild_ids));
        line(
            "discord.allowed_guilds",
            format!("{:?}", self.discord.allowed_guilds),
        );
        line("discord.allow_dms", self.discord.allow_dms.to_string());
        line(
            "discord.admin_roles",
            format!("{:?}", self.discord.admin_roles),
        );
        line("web.listen", self.web.listen.to_string());
        line(
            "web.metrics_listen",
            self.web
                .metrics_listen
                .map(|a| a.to_string())
                .unwrap_or_else(|| "(on web.listen)".into()),
        );
        line("web.public_url", self.web.public_url.to_string());
        line(
            "storage.backend",
            format!("{:?}", self.storage.backend).to_lowercase(),
        );
        line("storage.path", self.storage.path.display().to_string());
        line("storage.url", secret(&self.storage.url).into());
        line("storage.pool_size", self.storage.pool_size.to_string());
        line(
            "storage.leader_check_secs",
            self.storage.leader_check_secs.to_string(),
        );
        line(
            "storage.encryption_key",
            format!("[REDACTED] (id {})", self.storage.encryption_key.id),
        );
        line(
            "storage.previous_keys",
            format!(
                "{:?}",
                self.storage
                    .previous_keys
                    .iter()
                    .map(|k| k.id)
                    .collect::<Vec<_>>()
            ),
        );
        line(
            "storage.cache_capacity_mb",
            self.storage.cache_capacity_mb.to_string(),
        );
        line("limits", format!("{:?}", self.limits));
        line(
            "log.format",
            format!("{:?}", self.log.format).to_lowercase(),
        );
        line("log.filter", self.log.filter.clone());
        line(
            "notify.poll_interval_secs",
            self.notify.poll_interval_secs.to_string(),
        );
        line(
            "link.verify_discord_identity",
            self.link.verify_discord_identity.to_string(),
        );
        out
    }

    /// The redirect URI registered with SOE: `{public_url}/oauth/callback`.
    pub fn redirect_uri(&self) -> Url {
        join(&self.web.public_url, "oauth/callback")
    }
}

/// `base` joined with a relative path, keeping any path prefix of `base`.
pub fn join(base: &Url, rel: &str) -> Url {
    let mut s = base.as_str().trim_end_matches('/').to_string();
    s.push('/');
    s.push_str(rel.trim_start_matches('/'));
    Url::parse(&s).unwrap_or_else(|_| base.clone())
}

/// Splits the environment into the `SOE_BOT_*` variables that name a setting and the names of
/// those that do not (sorted). Each variable is tried alone against the settings' own schema
/// ([`RawConfig`], `deny_unknown_fields`), so the set of known keys cannot drift from it; a
/// variable that names a setting but holds a bad value stays in, to be reported by the real
/// extraction.
fn split_unknown_env(env: EnvVars) -> (EnvVars, Vec<String>) {
    let mut known = Vec::with_capacity(env.len());
    let mut ignored = Vec::new();
    for (key, value) in env {
        if !key.starts_with("SOE_BOT_") {
            continue;
        }
        let alone = Figment::new().merge(EnvProvider {
            env: vec![(key.clone(), value.clone())],
        });
        let unknown = match alone.extract::<RawConfig>() {
            Ok(_) => false,
            Err(errs) => errs
                .into_iter()
                .any(|e| matches!(e.kind, figment::error::Kind::UnknownField(..))),
        };
        if unknown {
            ignored.push(key);
        } else {
            known.push((key, value));
        }
    }
    ignored.sort();
    (known, ignored)
}

/// `SOE_BOT_*` variables as a figment provider. figment's own `Env` reads the process
/// environment directly; this one takes the pairs, so tests inject them.
struct EnvProvider {
    env: EnvVars,
}

impl figment::Provider for EnvProvider {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("SOE_BOT_* environment variables")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Map, Value};
        let mut dict = Dict::new();
        for (key, value) in &self.env {
            let Some(rest) = key.strip_prefix("SOE_BOT_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            let parsed: Value = value.parse().unwrap_or_else(|_| Value::from(value.clone()));
            // Secrets and ids stay strings even if they look numeric.
            let leaf = if path.last().is_some_and(|k| {
                k.contains("token") || k.contains("key") || k.contains("secret") || k == "client_id"
            }) {
                Value::from(value.clone())
            } else {
                parsed
            };
            insert_nested(&mut dict, &path, leaf);
        }
        Ok(Map::from([(figment::Profile::Default, dict)]))
    }
}

fn insert_nested(dict: &mut figment::value::Dict, path: &[String], value: figment::value::Value) {
    use figment::value::{Dict, Value};
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert_nested(inner, rest, value);
            } else {
                let mut inner = Dict::new();
                insert_nested(&mut inner, rest, value);
                *entry = Value::from(inner);
            }
        }
    }
}

/// What is wrong with a `storage.url`, if anything. The message never repeats the URL (it
/// may hold a password).
fn postgres_url_problem(raw: &str) -> Option<String> {
    let url = match Url::parse(raw.trim()) {
        Ok(u) => u,
        Err(_) => {
            return Some(
                "is not a URL; write it as postgres://user:password@host:5432/database".into(),
            )
        }
    };
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Some(format!(
            "must start with postgres:// or postgresql:// (it starts with {}://)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) && !url.query_pairs().any(|(k, _)| k == "host") {
        return Some(
            "names no host; write it as postgres://user:password@host:5432/database".into(),
        );
    }
    None
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The permission bits of `path` when its group or other users have any access to it (a
/// secret must be `chmod 600`); `None` when only the owner does, or when it cannot be read
/// (reading it then reports why).
#[cfg(unix)]
fn exposed_to_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// Non-Unix systems have no mode bits to check.
#[cfg(not(unix))]
fn exposed_to_others(_path: &Path) -> Option<u32> {
    None
}

struct Checker {
    problems: Vec<ConfigProblem>,
}

impl Checker {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(ConfigProblem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// An absolute URL that is https, or http on loopback; no query or fragment.
    fn url(
        &mut self,
        key: &str,
        raw: Option<&str>,
        default: Option<&str>,
        hint: &str,
    ) -> Option<Url> {
        let Some(raw) = raw.or(default) else {
            self.problem(key, format!("missing; {hint}"));
            return None;
        };
        let url = match Url::parse(raw.trim()) {
            Ok(u) => u,
            Err(_) => {
                self.problem(key, format!("`{raw}` is not an absolute URL; {hint}"));
                return None;
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => {
                self.problem(
                    key,
                    "must be an https:// URL (http:// is allowed only for localhost or 127.0.0.1)",
                );
                return None;
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            self.problem(key, "must not have a query string or #fragment");
            return None;
        }
        Some(url)
    }

    /// A secret from the key itself or from `<key>_file`; exactly one of them.
    fn secret(
        &mut self,
        key: &str,
        inline: Option<SecretString>,
        file: Option<&Path>,
        required_hint: Option<&str>,
    ) -> Option<SecretString> {
        let inline = inline.filter(|s| !s.expose_secret().trim().is_empty());
        let exposed_mode = file.and_then(exposed_to_others);
        match (inline, file, exposed_mode) {
            (Some(_), Some(_), _) => {
                self.problem(key, format!("set either {key} or {key}_file, not both"));
                None
            }
            (Some(s), None, _) => Some(SecretString::from(s.expose_secret().trim().to_string())),
            (None, Some(path), Some(mode)) => {
                self.problem(
                    &format!("{key}_file"),
                    format!(
                        "{} can be read or changed by other users (mode {mode:03o}); run `chmod 600 {}` and make the bot's user its owner",
                        path.display(),
                        path.display()
                    ),
                );
                None
            }
            (None, Some(path), None) => match std::fs::read_to_string(path) {
                Ok(text) if !text.trim().is_empty() => {
                    Some(SecretString::from(text.trim().to_string()))
                }
                Ok(_) => {
                    self.problem(
                        &format!("{key}_file"),
                        format!("{} is empty", path.display()),
                    );
                    None
                }
                Err(e) => {
                    self.problem(
                        &format!("{key}_file"),
                        format!(
                            "cannot read {}: {}; check the path and its permissions",
                            path.display(),
                            e.kind()
                        ),
                    );
                    None
                }
            },
            (None, None, _) => {
                if let Some(hint) = required_hint {
                    self.problem(key, format!("missing; {hint}"));
                }
                None
            }
        }
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, Vec<ConfigProblem>> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        let env_hint = |key: &str| {
            format!(
                "set it in bot.toml, in SOE_BOT_{}, or in a file named by {key}_file",
                key.to_ascii_uppercase().replace('.', "__")
            )
        };

        // soe
        let site_url = c.url(
            "soe.site_url",
            self.soe.site_url.as_deref(),
            None,
            "set it to your site's root, e.g. https://acme.stackenterprise.co",
        );
        let client_id = match self.soe.client_id.map(|s| s.trim().to_string()) {
            Some(id) if !id.is_empty() => Some(id),
            _ => {
                c.problem("soe.client_id", "missing; create an API application on your SOE site (Settings → API applications) and copy its client id");
                None
            }
        };
        let use_stored = self.soe.use_stored_service_token.unwrap_or(false);
        let service_token = c.secret(
            "soe.service_token",
            self.soe.service_token,
            self.soe.service_token_file.as_deref(),
            (!use_stored).then_some(
                "mint one with `soe-bot service-token` and put it here (or in SOE_BOT_SOE__SERVICE_TOKEN or soe.service_token_file), or store it sealed with `soe-bot service-token --store` and set soe.use_stored_service_token = true",
            ),
        );
        let team = match self.soe.team.as_deref() {
            None => None,
            Some(t) => {
                let slug = TeamSlug::parse(t);
                if slug.is_none() {
                    c.problem(
                        "soe.team",
                        "must be a private team slug (a-z, 0-9, -), as in https://SITE/c/<slug>",
                    );
                }
                slug
            }
        };

        let request_timeout_secs = self.soe.request_timeout_secs.unwrap_or(15);
        if !(1..=MAX_REQUEST_TIMEOUT_SECS).contains(&request_timeout_secs) {
            c.problem(
                "soe.request_timeout_secs",
                format!(
                    "must be between 1 and {MAX_REQUEST_TIMEOUT_SECS} seconds (a post still running after {} s may be retried as abandoned, and could be posted twice); the default, 15, suits most sites",
                    crate::store::CLAIM_STALE_SECS
                ),
            );
        }
        let team_scope_format = self
            .soe
            .team_scope_format
            .map(|f| f.trim().to_string())
            .unwrap_or_else(|| DEFAULT_TEAM_SCOPE_FORMAT.to_string());
        if !team_scope_format.contains("{team}") {
            c.problem(
                "soe.team_scope_format",
                format!("must contain {{team}} (the slug); the default is {DEFAULT_TEAM_SCOPE_FORMAT:?}"),
            );
        } else if team_scope_format.contains(',') || team_scope_format.contains(char::is_whitespace)
        {
            c.problem(
                "soe.team_scope_format",
                "must be one scope: no commas or spaces (SOE separates scopes with commas)",
            );
        }
        let encoded_fields = match &self.soe.encoded_fields {
            None => EncodedFields::all(),
            Some(names) => EncodedFields::from_names(names).unwrap_or_else(|m| {
                c.problem("soe.encoded_fields", m);
                EncodedFields::all()
            }),
        };

        // discord
        let discord_token = c.secret(
            "discord.token",
            self.discord.token,
            self.discord.token_file.as_deref(),
            Some(&format!(
                "copy the bot token from the Discord developer portal; {}",
                env_hint("discord.token")
            )),
        );
        let application_id = match self.discord.application_id {
            Some(id) if id > 0 => Some(id),
            _ => {
                c.problem(
                    "discord.application_id",
                    "missing; copy the application id from the Discord developer portal",
                );
                None
            }
        };
        let mode = self.discord.mode.unwrap_or_default();
        let public_key = self
            .discord
            .public_key
            .map(|k| k.trim().to_ascii_lowercase());
        match (&mode, &public_key) {
            (DiscordMode::Http, None) => c.problem(
                "discord.public_key",
                "required when discord.mode = \"http\"; copy the application's public key from the Discord developer portal",
            ),
            (_, Some(k)) if k.len() != 64 || !k.chars().all(|ch| ch.is_ascii_hexdigit()) => c.problem(
                "discord.public_key",
                "must be the 64-character hex public key shown in the Discord developer portal",
            ),
            _ => {}
        }
        let verify_discord_identity = self.link.verify_discord_identity.unwrap_or(true);
        let client_secret = c.secret(
            "discord.client_secret",
            self.discord.client_secret,
            self.discord.client_secret_file.as_deref(),
            verify_discord_identity.then_some(
                "linking proves each member's Discord account with Discord OAuth2 (identify): copy the client secret from the Discord developer portal (OAuth2 → Client Secret) and add the redirect {web.public_url}/oauth/discord/callback there; or, not recommended, set link.verify_discord_identity = false",
            ),
        );
        let allowed_guilds = self.discord.allowed_guilds.unwrap_or_default();
        if allowed_guilds.is_empty() {
            c.problem(
                "discord.allowed_guilds",
                "missing; list the ids of your organisation's Discord servers, e.g. allowed_guilds = [123456789012345678]. The bot answers only there and leaves any other server it is added to, because its service token reads your private site. To find a server's id: in Discord, enable Developer Mode (User Settings → Advanced), then right-click the server icon → Copy Server ID",
            );
        } else if allowed_guilds.contains(&0) {
            c.problem(
                "discord.allowed_guilds",
                "contains 0, which is not a server id; right-click the server icon → Copy Server ID (with Developer Mode on)",
            );
        }
        let guild_ids = self.discord.guild_ids.unwrap_or_default();
        if let Some(g) = guild_ids
            .iter()
            .find(|g| !allowed_guilds.is_empty() && !allowed_guilds.contains(g))
        {
            c.problem(
                "discord.guild_ids",
                format!("{g} is not in discord.allowed_guilds; commands registered there would only be refused. Add it to allowed_guilds or remove it here"),
            );
        }
        let mut admin_roles = Vec::new();
        for raw in self.discord.admin_roles.unwrap_or_default() {
            let id = match raw {
                RawRoleId::Id(id) => Some(id),
                RawRoleId::Text(t) => t.trim().parse::<u64>().ok(),
            };
            match id.filter(|id| *id > 0) {
                Some(id) => admin_roles.push(id),
                None => {
                    c.problem(
                        "discord.admin_roles",
                        "must be role ids (numbers); in Discord, enable Developer Mode and right-click the role → Copy Role ID",
                    );
                    break;
                }
            }
        }
        let api_base = c.url(
            "discord.api_base",
            self.discord.api_base.as_deref(),
            Some("https://discord.com"),
            "leave it unset for https://discord.com",
        );

        // web
        let listen = match self
            .web
            .listen
            .as_deref()
            .unwrap_or("0.0.0.0:8080")
            .parse::<SocketAddr>()
        {
            Ok(a) => Some(a),
            Err(_) => {
                c.problem(
                    "web.listen",
                    "must be an address and port such as 0.0.0.0:8080",
                );
                None
            }
        };
        let metrics_listen = match self
            .web
            .metrics_listen
            .as_deref()
            .map(str::parse::<SocketAddr>)
        {
            None => None,
            Some(Ok(a)) if Some(a) == listen => {
                c.problem(
                    "web.metrics_listen",
                    "is the same address as web.listen; leave it out to serve /metrics there, or give another port such as 127.0.0.1:9090",
                );
                None
            }
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                c.problem(
                    "web.metrics_listen",
                    "must be an address and port such as 127.0.0.1:9090",
                );
                None
            }
        };
        let public_url = c.url(
            "web.public_url",
            self.web.public_url.as_deref(),
            None,
            "set it to the https origin members' browsers reach, e.g. https://soe-bot.example.com (register its host as the API application's domain)",
        );
        let default_service_redirect = public_url
            .as_ref()
            .map(|u| join(u, "oauth/service-callback").to_string());
        // Without web.public_url (already reported) there is no default to speak of.
        let service_redirect_url = match (&self.soe.service_redirect_url, &default_service_redirect) {
            (None, None) => None,
            (raw, default) => c.url(
                "soe.service_redirect_url",
                raw.as_deref(),
                default.as_deref(),
                "leave it unset for {web.public_url}/oauth/service-callback, or give a URL under the API application's domain",
            ),
        };

        // storage
        let key_id = self.storage.encryption_key_id.unwrap_or(1);
        let key_secret = c.secret(
            "storage.encryption_key",
            self.storage.encryption_key,
            self.storage.encryption_key_file.as_deref(),
            Some("create one with `soe-bot keygen` and put it in SOE_BOT_STORAGE__ENCRYPTION_KEY or a file named by storage.encryption_key_file"),
        );
        let encryption_key =
            key_secret.and_then(
                |s| match EncryptionKey::from_base64(key_id, s.expose_secret()) {
                    Ok(k) => Some(k),
                    Err(m) => {
                        c.problem("storage.encryption_key", m);
                        None
                    }
                },
            );
        let mut previous_keys = Vec::new();
        for (i, old) in self
            .storage
            .previous_keys
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            if old.id == key_id {
                c.problem(
                    &format!("storage.previous_keys[{i}].id"),
                    "must differ from storage.encryption_key_id",
                );
                continue;
            }
            match EncryptionKey::from_base64(old.id, old.key.expose_secret()) {
                Ok(k) => previous_keys.push(k),
                Err(m) => c.problem(&format!("storage.previous_keys[{i}].key"), m),
            }
        }
        let path = self
            .storage
            .path
            .unwrap_or_else(|| PathBuf::from("./data/soe-bot.sled"));
        let backend = self.storage.backend.unwrap_or_default();
        let storage_url = c.secret(
            "storage.url",
            self.storage.url,
            self.storage.url_file.as_deref(),
            (backend == StorageBackend::Postgres).then_some(
                "storage.backend = \"postgres\" needs the server's URL, e.g. postgres://soe_bot@db.internal/soe_bot; it may hold the password, so prefer a file named by storage.url_file (chmod 600) or SOE_BOT_STORAGE__URL",
            ),
        );
        let storage_url = match (backend, storage_url) {
            (StorageBackend::Sled, Some(_)) => {
                c.problem(
                    "storage.url",
                    "is set but storage.backend is \"sled\"; set storage.backend = \"postgres\" to use it, or remove it",
                );
                None
            }
            (_, Some(url)) => match postgres_url_problem(url.expose_secret()) {
                Some(m) => {
                    c.problem("storage.url", m);
                    None
                }
                None => Some(url),
            },
            (_, None) => None,
        };
        let pool_size = self.storage.pool_size.unwrap_or(10);
        if !(1..=200).contains(&pool_size) {
            c.problem(
                "storage.pool_size",
                "must be between 1 and 200 (connections per replica; 10 is plenty for a bot)",
            );
        }
        let leader_check_secs = self.storage.leader_check_secs.unwrap_or(5);
        if !(1..=300).contains(&leader_check_secs) {
            c.problem(
                "storage.leader_check_secs",
                "must be between 1 and 300 seconds (how soon a standby replica takes over)",
            );
        }

        // limits
        let d = LimitsConfig::default();
        let limits = LimitsConfig {
            asks_burst: self.limits.asks_burst.unwrap_or(d.asks_burst),
            ask_refill_minutes: self
                .limits
                .ask_refill_minutes
                .unwrap_or(d.ask_refill_minutes),
            searches_burst: self.limits.searches_burst.unwrap_or(d.searches_burst),
            search_refill_secs: self
                .limits
                .search_refill_secs
                .unwrap_or(d.search_refill_secs),
            search_cache_secs: self.limits.search_cache_secs.unwrap_or(d.search_cache_secs),
            draft_ttl_hours: self.limits.draft_ttl_hours.unwrap_or(d.draft_ttl_hours),
            member_share_per_minute: self
                .limits
                .member_share_per_minute
                .unwrap_or(d.member_share_per_minute),
            share_member_cooldown_secs: self
                .limits
                .share_member_cooldown_secs
                .unwrap_or(d.share_member_cooldown_secs),
            share_channel_cooldown_secs: self
                .limits
                .share_channel_cooldown_secs
                .unwrap_or(d.share_channel_cooldown_secs),
            drafts_per_member: self.limits.drafts_per_member.unwrap_or(d.drafts_per_member),
            links_burst: self.limits.links_burst.unwrap_or(d.links_burst),
            link_refill_secs: self.limits.link_refill_secs.unwrap_or(d.link_refill_secs),
            expert_dms_per_day: self
                .limits
                .expert_dms_per_day
                .unwrap_or(d.expert_dms_per_day),
        };
        for (key, v) in [
            ("limits.asks_burst", limits.asks_burst),
            ("limits.ask_refill_minutes", limits.ask_refill_minutes),
            ("limits.searches_burst", limits.searches_burst),
            ("limits.search_refill_secs", limits.search_refill_secs),
            ("limits.draft_ttl_hours", limits.draft_ttl_hours),
            ("limits.drafts_per_member", limits.drafts_per_member),
            ("limits.links_burst", limits.links_burst),
            ("limits.link_refill_secs", limits.link_refill_secs),
            ("limits.expert_dms_per_day", limits.expert_dms_per_day),
        ] {
            if v == 0 {
                c.problem(key, "must be at least 1");
            }
        }
        if !(2..=SOE_SERVICE_CALLS_PER_MINUTE).contains(&limits.member_share_per_minute) {
            c.problem(
                "limits.member_share_per_minute",
                format!(
                    "must be between 2 (one question view is two calls) and {SOE_SERVICE_CALLS_PER_MINUTE} (all the service calls SOE allows the bot in a minute)"
                ),
            );
        }

        let notify = NotifyConfig {
            poll_interval_secs: self
                .notify
                .poll_interval_secs
                .unwrap_or(NotifyConfig::default().poll_interval_secs),
        };
        if !(1..=3600).contains(&notify.poll_interval_secs) {
            c.problem(
                "notify.poll_interval_secs",
                "must be between 1 and 3600 seconds (60 keeps new posts within a minute at a few service-token calls a minute)",
            );
        }

        let log = LogConfig {
            format: self.log.format.unwrap_or_default(),
            filter: self
                .log
                .filter
                .unwrap_or_else(|| "info,serenity=warn,sled=warn".into()),
        };
        if tracing_subscriber::EnvFilter::try_new(&log.filter).is_err() {
            c.problem(
                "log.filter",
                "is not a valid filter; use e.g. \"info\" or \"info,soe_bot=debug\"",
            );
        }

        if !c.problems.is_empty() {
            return Err(c.problems);
        }
        match (
            (site_url, client_id, service_redirect_url),
            discord_token,
            application_id,
            api_base,
            listen,
            public_url,
            encryption_key,
        ) {
            (
                (Some(site_url), Some(client_id), Some(service_redirect_url)),
                Some(token),
                Some(application_id),
                Some(api_base),
                Some(listen),
                Some(public_url),
                Some(encryption_key),
            ) => Ok(Config {
                soe: SoeConfig {
                    site_url,
                    client_id,
                    service_token,
                    allow_no_expiry: self.soe.allow_no_expiry.unwrap_or(false),
                    contact: self.soe.contact,
                    connect_timeout_secs: self.soe.connect_timeout_secs.unwrap_or(5),
                    request_timeout_secs,
                    team_scope_format,
                    service_redirect_url,
                    encoded_fields,
                },
                discord: DiscordConfig {
                    mode,
                    token,
                    application_id,
                    public_key,
                    api_base,
                    guild_ids,
                    allowed_guilds,
                    allow_dms: self.discord.allow_dms.unwrap_or(false),
                    admin_roles,
                    client_secret,
                },
                web: WebConfig {
                    listen,
                    metrics_listen,
                    public_url,
                },
                storage: StorageConfig {
                    backend,
                    path,
                    url: storage_url,
                    pool_size,
                    leader_check_secs,
                    encryption_key,
                    previous_keys,
                    cache_capacity_mb: self.storage.cache_capacity_mb.unwrap_or(64),
                },
                limits,
                log,
                notify,
                link: LinkConfig {
                    verify_discord_identity,
                },
                default_team: team,
                ignored_env: Vec::new(),
            }),
            _ => Err(vec![ConfigProblem {
                key: "(config)".into(),
                message: "incomplete configuration".into(),
            }]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvVars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn full_env() -> EnvVars {
        env(&[
            ("SOE_BOT_SOE__SITE_URL", "https://acme.stackenterprise.co"),
            ("SOE_BOT_SOE__CLIENT_ID", "4242"),
            ("SOE_BOT_SOE__SERVICE_TOKEN", "svc-canary-token"),
            ("SOE_BOT_DISCORD__TOKEN", "discord-canary-token"),
            ("SOE_BOT_DISCORD__APPLICATION_ID", "123456789"),
            (
                "SOE_BOT_DISCORD__CLIENT_SECRET",
                "discord-client-canary-secret",
            ),
            ("SOE_BOT_WEB__PUBLIC_URL", "https://bot.example.com"),
            ("SOE_BOT_STORAGE__ENCRYPTION_KEY", KEY),
            ("SOE_BOT_DISCORD__ALLOWED_GUILDS", "[1000000000000000001]"),
        ])
    }

    #[test]
    fn env_alone_is_enough_and_nested_keys_use_double_underscore() {
        let cfg = Config::load_from(None, full_env()).expect("valid");
        assert_eq!(cfg.soe.client_id, "4242");
        assert_eq!(cfg.discord.application_id, 123456789);
        assert_eq!(
            cfg.redirect_uri().as_str(),
            "https://bot.example.com/oauth/callback"
        );
        assert_eq!(cfg.storage.cache_capacity_mb, 64);
    }

    #[test]
    fn redacted_dump_and_debug_hide_every_secret() {
        let cfg = Config::load_from(None, full_env()).expect("valid");
        for text in [cfg.redacted(), format!("{cfg:?}")] {
            assert!(!text.contains("svc-canary-token"), "{text}");
            assert!(!text.contains("discord-canary-token"), "{text}");
            assert!(!text.contains("discord-client-canary-secret"), "{text}");
            assert!(!text.contains(KEY), "{text}");
        }
        assert!(cfg
            .redacted()
            .contains("discord.client_secret = [REDACTED]"));
        assert!(cfg.redacted().contains("soe.service_token = [REDACTED]"));
    }

    #[test]
    fn every_missing_key_is_named() {
        let problems = Config::load_from(None, env(&[])).unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        for k in [
            "soe.site_url",
            "soe.client_id",
            "soe.service_token",
            "discord.token",
            "discord.application_id",
            "discord.client_secret",
            "web.public_url",
            "storage.encryption_key",
        ] {
            assert!(keys.contains(&k), "{k} not reported: {keys:?}");
        }
    }

    #[test]
    fn the_discord_client_secret_is_required_unless_verification_is_turned_off() {
        let mut e = full_env();
        e.retain(|(k, _)| k != "SOE_BOT_DISCORD__CLIENT_SECRET");
        let problems = Config::load_from(None, e.clone()).unwrap_err();
        let p = problems
            .iter()
            .find(|p| p.key == "discord.client_secret")
            .expect("named");
        assert!(p.message.contains("OAuth2"), "{p}");
        assert!(
            p.message.contains("link.verify_discord_identity = false"),
            "{p}"
        );

        e.push((
            "SOE_BOT_LINK__VERIFY_DISCORD_IDENTITY".into(),
            "false".into(),
        ));
        let cfg = Config::load_from(None, e).expect("valid when turned off explicitly");
        assert!(!cfg.link.verify_discord_identity);
        assert!(cfg.discord.client_secret.is_none());
        let cfg = Config::load_from(None, full_env()).expect("valid");
        assert!(cfg.link.verify_discord_identity, "on by default");
    }

    #[test]
    fn short_key_says_how_to_make_one() {
        let mut e = full_env();
        e.retain(|(k, _)| k != "SOE_BOT_STORAGE__ENCRYPTION_KEY");
        e.push((
            "SOE_BOT_STORAGE__ENCRYPTION_KEY".into(),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==".into(),
        ));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p[0].key, "storage.encryption_key");
        assert!(
            p[0].message.contains("32 bytes of base64"),
            "{}",
            p[0].message
        );
        assert!(p[0].message.contains("soe-bot keygen"), "{}", p[0].message);
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        let mut e = full_env();
        e.retain(|(k, _)| k != "SOE_BOT_SOE__SITE_URL" && k != "SOE_BOT_WEB__PUBLIC_URL");
        e.push((
            "SOE_BOT_SOE__SITE_URL".into(),
            "http://acme.example.com".into(),
        ));
        e.push((
            "SOE_BOT_WEB__PUBLIC_URL".into(),
            "http://127.0.0.1:8080".into(),
        ));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "soe.site_url");
        assert!(p[0].message.contains("https://"));
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("token");
        std::fs::write(&f, "file-token\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let mut e = full_env();
        e.retain(|(k, _)| k != "SOE_BOT_DISCORD__TOKEN");
        e.push((
            "SOE_BOT_DISCORD__TOKEN_FILE".into(),
            f.display().to_string(),
        ));
        let cfg = Config::load_from(None, e).expect("valid");
        assert_eq!(cfg.discord.token.expose_secret(), "file-token");
    }

    #[test]
    fn the_soe_request_timeout_stays_below_the_write_claim_staleness_window() {
        for bad in ["0", "120", "300"] {
            let mut e = full_env();
            e.push(("SOE_BOT_SOE__REQUEST_TIMEOUT_SECS".into(), bad.into()));
            let p = Config::load_from(None, e).unwrap_err();
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert_eq!(p[0].key, "soe.request_timeout_secs");
            assert!(
                p[0].message.contains("120") && p[0].message.contains("between 1 and"),
                "{bad}: {}",
                p[0].message
            );
        }
        let mut e = full_env();
        e.push(("SOE_BOT_SOE__REQUEST_TIMEOUT_SECS".into(), "30".into()));
        assert_eq!(
            Config::load_from(None, e)
                .expect("valid")
                .soe
                .request_timeout_secs,
            30
        );
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_readable_by_group_or_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let key = dir.path().join("key");
        let token = dir.path().join("token");
        std::fs::write(&key, KEY).expect("write");
        std::fs::write(&token, "file-token\n").expect("write");
        let env_with_files = || {
            let mut e = full_env();
            e.retain(|(k, _)| {
                k != "SOE_BOT_STORAGE__ENCRYPTION_KEY" && k != "SOE_BOT_DISCORD__TOKEN"
            });
            e.push((
                "SOE_BOT_STORAGE__ENCRYPTION_KEY_FILE".into(),
                key.display().to_string(),
            ));
            e.push((
                "SOE_BOT_DISCORD__TOKEN_FILE".into(),
                token.display().to_string(),
            ));
            e
        };
        for (key_mode, token_mode) in [
            (0o644, 0o600),
            (0o600, 0o640),
            (0o604, 0o600),
            (0o600, 0o620),
        ] {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(key_mode))
                .expect("chmod");
            std::fs::set_permissions(&token, std::fs::Permissions::from_mode(token_mode))
                .expect("chmod");
            let p = Config::load_from(None, env_with_files()).unwrap_err();
            assert_eq!(p.len(), 1, "{key_mode:o}/{token_mode:o}: {p:?}");
            let (file_key, path) = if key_mode & 0o077 != 0 {
                ("storage.encryption_key_file", &key)
            } else {
                ("discord.token_file", &token)
            };
            assert_eq!(p[0].key, file_key);
            assert!(
                p[0].message
                    .contains(&format!("chmod 600 {}", path.display())),
                "{}",
                p[0].message
            );
            assert!(!p[0].message.contains("file-token"), "{}", p[0].message);
        }
        for f in [&key, &token] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let cfg = Config::load_from(None, env_with_files()).expect("owner-only files are fine");
        assert_eq!(cfg.discord.token.expose_secret(), "file-token");
    }

    #[test]
    fn hsts_only_when_members_reach_the_bot_over_https() {
        let cfg = Config::load_from(None, full_env()).expect("valid");
        assert!(cfg.web.hsts());
        let mut e = full_env();
        e.retain(|(k, _)| k != "SOE_BOT_WEB__PUBLIC_URL");
        e.push((
            "SOE_BOT_WEB__PUBLIC_URL".into(),
            "http://127.0.0.1:8080".into(),
        ));
        assert!(!Config::load_from(None, e).expect("valid").web.hsts());
    }

    #[test]
    fn http_mode_needs_a_public_key() {
        let mut e = full_env();
        e.push(("SOE_BOT_DISCORD__MODE".into(), "http".into()));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p[0].key, "discord.public_key");
    }

    #[test]
    fn allowed_guilds_are_required_and_the_problem_says_how_to_find_a_guild_id() {
        let mut e = full_env();
        e.retain(|(k, _)| k != "SOE_BOT_DISCORD__ALLOWED_GUILDS");
        let p = Config::load_from(None, e.clone()).unwrap_err();
        let problem = p
            .iter()
            .find(|p| p.key == "discord.allowed_guilds")
            .unwrap_or_else(|| panic!("not named: {p:?}"));
        for needle in ["Developer Mode", "Copy Server ID", "leaves"] {
            assert!(problem.message.contains(needle), "{}", problem.message);
        }
        e.push(("SOE_BOT_DISCORD__ALLOWED_GUILDS".into(), "[]".into()));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            p[0].key, "discord.allowed_guilds",
            "an empty list serves nobody"
        );
    }

    #[test]
    fn admin_roles_written_as_names_get_a_clear_message() {
        let mut e = full_env();
        e.push((
            "SOE_BOT_DISCORD__ADMIN_ROLES".into(),
            "[\"SOE Admins\"]".into(),
        ));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "discord.admin_roles");
        assert_eq!(
            p[0].message,
            "must be role ids (numbers); in Discord, enable Developer Mode and right-click the role → Copy Role ID"
        );
    }

    #[test]
    fn discord_access_keys_are_read_checked_and_shown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bot.toml");
        std::fs::write(
            &file,
            "[discord]\nallowed_guilds = [1000000000000000001, 1000000000000000002]\nguild_ids = [1000000000000000002]\nallow_dms = true\nadmin_roles = [234567890123456789, \"345678901234567890\"]\n",
        )
        .expect("write");
        let mut e = full_env();
        e.retain(|(k, _)| k != "SOE_BOT_DISCORD__ALLOWED_GUILDS");
        let cfg = Config::load_from(Some(&file), e.clone()).expect("valid");
        assert_eq!(
            cfg.discord.allowed_guilds,
            [1000000000000000001, 1000000000000000002]
        );
        assert!(cfg.discord.allow_dms);
        assert_eq!(
            cfg.discord.admin_roles,
            [234567890123456789, 345678901234567890],
            "ids as numbers or digit strings (the environment gives strings)"
        );
        let shown = cfg.redacted();
        assert!(
            shown.contains("discord.allowed_guilds = [1000000000000000001, 1000000000000000002]"),
            "{shown}"
        );
        assert!(shown.contains("discord.allow_dms = true"), "{shown}");
        assert!(
            shown.contains("discord.admin_roles = [234567890123456789, 345678901234567890]"),
            "{shown}"
        );

        // Defaults: DMs off, no admin roles.
        let cfg = Config::load_from(None, full_env()).expect("valid");
        assert!(!cfg.discord.allow_dms);
        assert!(cfg.discord.admin_roles.is_empty());

        // Registering commands in a guild the bot refuses makes no sense.
        std::fs::write(
            &file,
            "[discord]\nallowed_guilds = [1000000000000000001]\nguild_ids = [1000000000000000009]\n",
        )
        .expect("write");
        let p = Config::load_from(Some(&file), e.clone()).unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].key, "discord.guild_ids");
        assert!(
            p[0].message.contains("not in discord.allowed_guilds"),
            "{}",
            p[0].message
        );

        std::fs::write(&file, "[discord]\nallowed_guilds = [0]\n").expect("write");
        let p = Config::load_from(Some(&file), e).unwrap_err();
        assert_eq!(p[0].key, "discord.allowed_guilds");
        assert!(p[0].message.contains("Copy Server ID"), "{}", p[0].message);
    }

    #[test]
    fn soe_fidelity_keys_default_and_validate() {
        let cfg = Config::load_from(None, full_env()).expect("valid");
        assert_eq!(cfg.soe.team_scope_format, "access_team|{host}/c/{team}");
        assert_eq!(
            cfg.soe.service_redirect_url.as_str(),
            "https://bot.example.com/oauth/service-callback"
        );
        assert_eq!(cfg.soe.encoded_fields, EncodedFields::all());
        let dump = cfg.redacted();
        for key in [
            "soe.team_scope_format = access_team|{host}/c/{team}",
            "soe.service_redirect_url = https://bot.example.com/oauth/service-callback",
            "soe.encoded_fields = [\"body_markdown\"",
        ] {
            assert!(dump.contains(key), "{key} missing from:\n{dump}");
        }

        let mut e = full_env();
        e.push((
            "SOE_BOT_SOE__TEAM_SCOPE_FORMAT".into(),
            "team:{team}".into(),
        ));
        e.push((
            "SOE_BOT_SOE__SERVICE_REDIRECT_URL".into(),
            "https://auth.bot.example.com/service".into(),
        ));
        let cfg = Config::load_from(None, e).expect("valid");
        assert_eq!(cfg.soe.team_scope_format, "team:{team}");
        assert_eq!(
            cfg.soe.service_redirect_url.as_str(),
            "https://auth.bot.example.com/service"
        );

        for (key, value, needle) in [
            ("SOE_BOT_SOE__TEAM_SCOPE_FORMAT", "access_team", "{team}"),
            ("SOE_BOT_SOE__TEAM_SCOPE_FORMAT", "a,{team}", "no commas"),
            (
                "SOE_BOT_SOE__SERVICE_REDIRECT_URL",
                "http://bot.example.com/cb",
                "https://",
            ),
        ] {
            let mut e = full_env();
            e.push((key.into(), value.into()));
            let p = Config::load_from(None, e).unwrap_err();
            assert_eq!(p.len(), 1, "{p:?}");
            assert!(p[0].message.contains(needle), "{p:?}");
        }
    }

    #[test]
    fn encoded_fields_name_the_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("bot.toml");
        std::fs::write(
            &f,
            "[soe]\nencoded_fields = [\"body_markdown\", \"comment_body\"]\n",
        )
        .expect("write");
        let cfg = Config::load_from(Some(&f), full_env()).expect("valid");
        assert_eq!(cfg.soe.encoded_fields, EncodedFields::guide_only());
        std::fs::write(&f, "[soe]\nencoded_fields = [\"titles\"]\n").expect("write");
        let p = Config::load_from(Some(&f), full_env()).unwrap_err();
        assert_eq!(p[0].key, "soe.encoded_fields");
        assert!(
            p[0].message.contains("`titles` is not a text field"),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, "[soe]\nsite = \"x\"\n").expect("write");
        let p = Config::load_from(Some(&path), full_env()).unwrap_err();
        assert_eq!(p[0].key, "soe.site", "{p:?}");
        assert!(p[0].message.contains("unknown field"), "{p:?}");
    }

    #[test]
    fn unknown_environment_variables_are_ignored_and_named_once() {
        let mut e = full_env();
        for (k, v) in [
            ("SOE_BOT_PORT", "tcp://10.0.0.1:8080"),
            ("SOE_BOT_SERVICE_HOST", "10.0.0.1"),
            ("SOE_BOT_SOE__SITE", "x"),
            ("SOE_BOT_LOG__FORMAT", "json"),
            ("OTHER_PORT", "tcp://10.0.0.2:80"),
        ] {
            e.push((k.into(), v.into()));
        }
        let cfg = Config::load_from(None, e).expect("strays do not stop the bot");
        assert_eq!(cfg.log.format, LogFormat::Json, "known keys still apply");
        assert_eq!(
            cfg.ignored_env,
            ["SOE_BOT_PORT", "SOE_BOT_SERVICE_HOST", "SOE_BOT_SOE__SITE"]
        );
        let warning = cfg.ignored_env_warning().expect("a warning");
        assert!(warning.contains("SOE_BOT_PORT, SOE_BOT_SERVICE_HOST, SOE_BOT_SOE__SITE"));
        assert!(
            !warning.contains("10.0.0.1"),
            "values are not echoed: {warning}"
        );
        assert!(Config::load_from(None, full_env())
            .expect("valid")
            .ignored_env_warning()
            .is_none());
    }

    #[test]
    fn metrics_listen_is_optional_and_checked() {
        let cfg = Config::load_from(None, full_env()).expect("valid");
        assert_eq!(cfg.web.metrics_listen, None);
        let mut e = full_env();
        e.push((
            "SOE_BOT_WEB__METRICS_LISTEN".into(),
            "127.0.0.1:9090".into(),
        ));
        let cfg = Config::load_from(None, e).expect("valid");
        assert_eq!(
            cfg.web.metrics_listen,
            Some("127.0.0.1:9090".parse().unwrap())
        );
        let mut e = full_env();
        e.push(("SOE_BOT_WEB__METRICS_LISTEN".into(), "nine".into()));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p[0].key, "web.metrics_listen");
    }

    #[test]
    fn a_known_variable_with_a_bad_value_is_still_a_problem() {
        let mut e = full_env();
        e.push(("SOE_BOT_LOG__FORMAT".into(), "yaml".into()));
        e.push(("SOE_BOT_WEB".into(), "x".into()));
        let p = Config::load_from(None, e).unwrap_err();
        assert!(
            p.iter().any(|p| p.key == "log.format" || p.key == "web"),
            "{p:?}"
        );
    }

    #[test]
    fn budget_limits_have_defaults_and_are_bounded() {
        let cfg = Config::load_from(None, full_env()).expect("valid");
        assert_eq!(cfg.limits.member_share_per_minute, 20);
        assert_eq!(cfg.limits.drafts_per_member, 20);
        assert!(cfg.redacted().contains("member_share_per_minute: 20"));
        for (value, ok) in [("1", false), ("2", true), ("100", true), ("101", false)] {
            let mut e = full_env();
            e.push((
                "SOE_BOT_LIMITS__MEMBER_SHARE_PER_MINUTE".into(),
                value.into(),
            ));
            match Config::load_from(None, e) {
                Ok(cfg) => {
                    assert!(ok, "{value} accepted");
                    assert_eq!(cfg.limits.member_share_per_minute.to_string(), value);
                }
                Err(p) => {
                    assert!(!ok, "{value} refused: {p:?}");
                    assert_eq!(p[0].key, "limits.member_share_per_minute");
                    assert!(p[0].message.contains("between 2"), "{p:?}");
                }
            }
        }
        let mut e = full_env();
        e.push(("SOE_BOT_LIMITS__DRAFTS_PER_MEMBER".into(), "0".into()));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p[0].key, "limits.drafts_per_member");
    }

    #[test]
    fn postgres_needs_a_url_that_is_never_shown() {
        const URL: &str = "postgres://bot:pg-canary-password@db.internal:5432/soe";
        let mut e = full_env();
        e.push(("SOE_BOT_STORAGE__BACKEND".into(), "postgres".into()));
        let p = Config::load_from(None, e.clone()).unwrap_err();
        assert_eq!(p[0].key, "storage.url", "{p:?}");
        assert!(p[0].message.contains("postgres://"), "{p:?}");

        e.push(("SOE_BOT_STORAGE__URL".into(), URL.into()));
        e.push(("SOE_BOT_STORAGE__POOL_SIZE".into(), "4".into()));
        let cfg = Config::load_from(None, e.clone()).expect("valid");
        assert_eq!(cfg.storage.backend, StorageBackend::Postgres);
        assert_eq!(cfg.storage.pool_size, 4);
        assert_eq!(cfg.storage.leader_check_secs, 5);
        assert_eq!(
            cfg.storage
                .url
                .as_ref()
                .map(|u| u.expose_secret().to_string()),
            Some(URL.to_string())
        );
        for text in [cfg.redacted(), format!("{cfg:?}")] {
            assert!(!text.contains("pg-canary-password"), "{text}");
        }
        assert!(cfg.redacted().contains("storage.url = [REDACTED]"));
        assert!(cfg.redacted().contains("storage.backend = postgres"));

        // A wrong scheme is named, the URL (and its password) is not repeated.
        let mut bad = e.clone();
        bad.retain(|(k, _)| k != "SOE_BOT_STORAGE__URL");
        bad.push((
            "SOE_BOT_STORAGE__URL".into(),
            "mysql://bot:pg-canary-password@db/soe".into(),
        ));
        let p = Config::load_from(None, bad).unwrap_err();
        assert_eq!(p[0].key, "storage.url");
        assert!(p[0].message.contains("postgres://"), "{p:?}");
        assert!(!format!("{p:?}").contains("pg-canary-password"), "{p:?}");

        // Out-of-range pool and leader settings.
        let mut bad = e.clone();
        bad.push(("SOE_BOT_STORAGE__POOL_SIZE".into(), "0".into()));
        bad.push(("SOE_BOT_STORAGE__LEADER_CHECK_SECS".into(), "0".into()));
        let p = Config::load_from(None, bad).unwrap_err();
        let keys: Vec<_> = p.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["storage.pool_size", "storage.leader_check_secs"]);
    }

    #[test]
    fn a_url_with_sled_is_refused_and_the_url_may_come_from_a_file() {
        let mut e = full_env();
        e.push((
            "SOE_BOT_STORAGE__URL".into(),
            "postgres://db.internal/soe".into(),
        ));
        let p = Config::load_from(None, e).unwrap_err();
        assert_eq!(p[0].key, "storage.url");
        assert!(p[0].message.contains("storage.backend"), "{p:?}");

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pg_url");
        std::fs::write(&file, "postgres://bot:secret@db.internal/soe\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let mut e = full_env();
        e.push(("SOE_BOT_STORAGE__BACKEND".into(), "postgres".into()));
        e.push((
            "SOE_BOT_STORAGE__URL_FILE".into(),
            file.display().to_string(),
        ));
        let cfg = Config::load_from(None, e).expect("valid");
        assert_eq!(
            cfg.storage
                .url
                .as_ref()
                .map(|u| u.expose_secret().to_string()),
            Some("postgres://bot:secret@db.internal/soe".to_string())
        );
    }
}
