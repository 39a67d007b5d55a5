//! The running bot's control socket: how `soe-bot backup` and `soe-bot rotate-key` reach a
//! store that a running bot holds open (sled lets one process open it).
//!
//! The socket is `control.sock` inside `storage.path`, a directory only the bot's user can
//! enter (`0700`), and is itself `0600`: whoever can use it could read the store's files
//! anyway. One request per connection, a command on one line (`backup` or `rotate-key`); the
//! answer is `ok` or `error: …` on the first line, then the payload (the backup's JSON, or the
//! rotation report's JSON). The bot never writes a file for a client: the client writes the
//! backup where it wants, as its own user.
//!
//! Invariants: nothing sent on the socket is unsealed (a backup is the sealed records as
//! stored); a failed request never stops the bot.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::clock::SharedClock;
use crate::maintenance::{RotationSummary, ROTATION_BATCH};
use crate::store::SledStore;

/// The socket's file name inside `storage.path`.
pub const SOCKET_NAME: &str = "control.sock";

/// The socket of the store at `storage_path`.
pub fn socket_path(storage_path: &Path) -> PathBuf {
    storage_path.join(SOCKET_NAME)
}

/// Binds the control socket for `store` at `storage_path` and serves it until the task is
/// aborted. A stale socket file from an earlier run is replaced (this process holds the
/// store's lock, so no other bot is using it).
pub fn listen(
    storage_path: &Path,
    store: Arc<SledStore>,
    clock: SharedClock,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let path = socket_path(storage_path);
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                continue;
            };
            let store = store.clone();
            let clock = clock.clone();
            tokio::spawn(async move {
                if let Err(e) = answer(conn, store, clock).await {
                    tracing::warn!(error = %e, "a control request failed");
                }
            });
        }
    }))
}

async fn answer(
    conn: tokio::net::UnixStream,
    store: Arc<SledStore>,
    clock: SharedClock,
) -> std::io::Result<()> {
    let (read, mut write) = conn.into_split();
    let mut line = String::new();
    BufReader::new(read.take(64)).read_line(&mut line).await?;
    let reply = match line.trim() {
        "backup" => {
            tracing::info!("backup requested on the control socket");
            let now = clock.now();
            let done = tokio::task::spawn_blocking(move || store.backup(now)).await;
            match done {
                Ok(Ok(backup)) => serde_json::to_string(&backup)
                    .map(|json| format!("ok\n{json}"))
                    .unwrap_or_else(|e| format!("error: cannot encode the backup: {e}")),
                Ok(Err(e)) => format!("error: {e}"),
                Err(e) => format!("error: the backup task failed: {e}"),
            }
        }
        "rotate-key" => {
            tracing::info!("key rotation requested on the control socket");
            let done = tokio::task::spawn_blocking(move || {
                let key_id = store.current_key_id();
                store
                    .rotate_key(ROTATION_BATCH, |r| {
                        tracing::info!(
                            resealed = r.resealed_total(),
                            remaining = r.remaining,
                            "key rotation progress"
                        )
                    })
                    .map(|r| RotationSummary::new(key_id, &r))
            })
            .await;
            match done {
                Ok(Ok(summary)) => serde_json::to_string(&summary)
                    .map(|json| format!("ok\n{json}"))
                    .unwrap_or_else(|e| format!("error: cannot encode the report: {e}")),
                Ok(Err(e)) => format!("error: {e}"),
                Err(e) => format!("error: the rotation task failed: {e}"),
            }
        }
        other => format!(
            "error: unknown control command `{}`",
            other.chars().take(32).collect::<String>()
        ),
    };
    write.write_all(reply.as_bytes()).await?;
    write.shutdown().await
}

/// Sends `command` to the bot running on the store at `storage_path`; returns the payload of
/// an `ok` answer, or the error line.
pub async fn request(storage_path: &Path, command: &str) -> Result<String, String> {
    let path = socket_path(storage_path);
    let mut conn = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
        format!(
            "the store is in use, but the running bot's control socket {} does not answer ({e}); stop the other process or run this as the bot's user",
            path.display()
        )
    })?;
    conn.write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(|e| format!("cannot talk to the running bot: {e}"))?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)
        .await
        .map_err(|e| format!("cannot read the running bot's answer: {e}"))?;
    match answer.split_once('\n') {
        Some(("ok", payload)) => Ok(payload.to_string()),
        _ => Err(answer
            .trim()
            .strip_prefix("error: ")
            .unwrap_or(answer.trim())
            .to_string()),
    }
}
