//! The process's lifecycle as operators see it: what `/readyz` reports, and the work in
//! flight that shutdown waits for.
//!
//! [`Health`] holds the state of each part that can be not ready (the Discord gateway, the
//! command registration, shutdown itself); the store is checked live by the caller.
//! [`Health::not_ready`] names every part that is not ready, in words an operator can act on;
//! an empty list means ready. Command registration never makes the bot unready: commands
//! registered earlier keep working, so it is reported ([`Health::notes`]) but does not take the
//! bot out of a load balancer.
//!
//! Shutdown ([`SHUTDOWN_GRACE`]): interactions in flight are tracked in the app's
//! [`tokio_util::task::TaskTracker`]; after a stop signal nothing new is taken and they get
//! this long to finish. A write cut off after it is never lost: its draft was stored before
//! the post began, and the next start settles it (posted or offered again).
//! Invariant: nothing here holds a secret, so the texts can be served to anyone who can reach
//! `/readyz`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// How long interactions in flight may take to finish after a stop signal. Inside
/// Kubernetes' default 30 s grace and systemd's default 90 s stop timeout, with room for the
/// gateway's close and the final flush.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How long the gateway's shards get to send their close frame after a stop signal.
pub const GATEWAY_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The Discord connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscordStatus {
    /// Gateway mode, not connected yet.
    Connecting,
    /// Gateway mode, the shard is connected; or HTTP mode (Discord calls the bot).
    Connected,
    /// Gateway mode, the shard lost its connection and is at this stage of getting it back.
    Reconnecting(String),
    /// Gateway mode, the client stopped (shutdown, or a failure that ends the process).
    Stopped,
    /// Gateway mode with several replicas: another replica leads and holds the gateway; this
    /// one serves the linking pages and takes over when the leader goes (ready).
    Standby,
}

/// The registration of the application commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandsStatus {
    /// Not tried yet.
    Pending,
    /// Registered by this process.
    Registered,
    /// Failed this many times; retried with backoff. The error is log-safe (no token, no URL).
    Retrying { attempts: u32, error: String },
}

/// What `/readyz` reports, shared by the parts that change it.
#[derive(Debug)]
pub struct Health {
    /// The Discord connection's state.
    discord: Mutex<DiscordStatus>,
    /// The command registration's state.
    commands: Mutex<CommandsStatus>,
    /// True once a stop signal arrived: a load balancer should send nothing new.
    stopping: AtomicBool,
}

impl Health {
    /// A process that has connected nothing yet.
    pub fn new(discord: DiscordStatus) -> Self {
        Self {
            discord: Mutex::new(discord),
            commands: Mutex::new(CommandsStatus::Pending),
            stopping: AtomicBool::new(false),
        }
    }

    /// Records the Discord connection's state.
    pub fn set_discord(&self, status: DiscordStatus) {
        *self.discord.lock() = status;
    }

    /// The Discord connection's state.
    pub fn discord(&self) -> DiscordStatus {
        self.discord.lock().clone()
    }

    /// Records the command registration's state.
    pub fn set_commands(&self, status: CommandsStatus) {
        *self.commands.lock() = status;
    }

    /// The command registration's state.
    pub fn commands(&self) -> CommandsStatus {
        self.commands.lock().clone()
    }

    /// Marks the process as stopping (not ready from now on).
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether a stop signal arrived.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Every part that is not ready, one line each; empty when ready.
    pub fn not_ready(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.stopping() {
            out.push("shutting down: finishing the work in flight".to_string());
        }
        match self.discord() {
            DiscordStatus::Connected | DiscordStatus::Standby => {}
            DiscordStatus::Connecting => out.push("discord: connecting to the gateway".to_string()),
            DiscordStatus::Reconnecting(stage) => out.push(format!(
                "discord: the gateway shard is reconnecting ({stage})"
            )),
            DiscordStatus::Stopped => out.push("discord: the gateway client stopped".to_string()),
        }
        out
    }

    /// Facts worth showing that do not make the bot unready.
    pub fn notes(&self) -> Vec<String> {
        match self.commands() {
            CommandsStatus::Registered => vec!["commands: registered".to_string()],
            CommandsStatus::Pending => vec!["commands: not registered yet".to_string()],
            CommandsStatus::Retrying { attempts, error } => vec![format!(
                "commands: registration failed {attempts} time(s), retrying ({error}); commands registered earlier keep working"
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_connected_and_not_stopping() {
        let h = Health::new(DiscordStatus::Connecting);
        assert_eq!(h.not_ready(), ["discord: connecting to the gateway"]);
        h.set_discord(DiscordStatus::Connected);
        assert!(h.not_ready().is_empty());
        h.set_discord(DiscordStatus::Reconnecting("resuming".into()));
        assert_eq!(
            h.not_ready(),
            ["discord: the gateway shard is reconnecting (resuming)"]
        );
        h.set_discord(DiscordStatus::Connected);
        h.set_stopping();
        assert_eq!(h.not_ready().len(), 1);
        assert!(h.not_ready()[0].starts_with("shutting down"));
    }

    #[test]
    fn a_failing_registration_is_a_note_not_a_reason() {
        let h = Health::new(DiscordStatus::Connected);
        h.set_commands(CommandsStatus::Retrying {
            attempts: 3,
            error: "Discord answered 503".into(),
        });
        assert!(h.not_ready().is_empty());
        assert!(h.notes()[0].contains("failed 3 time(s), retrying (Discord answered 503)"));
    }
}
