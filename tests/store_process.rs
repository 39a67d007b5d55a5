//! Process-level guarantees of `SledStore`, with real child processes (this test binary
//! re-executed with an environment variable that selects the child's role):
//! - a second process opening the same path gets `StoreError::Locked`, never a panic;
//! - a link acknowledged by `put_link` (which flushes) survives SIGKILL of the process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::SecretString;
use soe_bot::soe::UserToken;
use soe_bot::store::cipher::Cipher;
use soe_bot::store::{Link, LinkStatus, SledStore, Store, StoreError};

/// Selects the child role: `hold` or `write`.
const ROLE_ENV: &str = "SOE_BOT_STORE_PROCESS_CHILD";
/// The store directory for the child.
const DIR_ENV: &str = "SOE_BOT_STORE_PROCESS_DIR";
/// The run number (write role): users and tokens differ per run.
const RUN_ENV: &str = "SOE_BOT_STORE_PROCESS_RUN";
/// Children exit on their own after this, should the parent die without killing them.
const CHILD_LIFETIME: StdDuration = StdDuration::from_secs(30);
/// How long the parent waits for a child's line.
const LINE_TIMEOUT: StdDuration = StdDuration::from_secs(30);
const KILL_RUNS: u64 = 25;
/// Links a `write` child stores (each acknowledged) before it just waits.
const WRITES_PER_RUN: u64 = 8;

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap()
}

fn user_for(run: u64, i: u64) -> u64 {
    1_000_000 + run * 100 + i
}

fn token_for(run: u64, i: u64) -> String {
    format!("soe_KILL_TOKEN_r{run}_i{i}_{}", run * 7919 + i * 104_729)
}

fn link(user: u64, token: &str) -> Link {
    Link {
        discord_user: user,
        soe_user_id: user as i64 + 5,
        soe_user_name: format!("user {user}"),
        soe_user_url: None,
        token: UserToken::new(SecretString::from(token)),
        scopes: vec!["write_access".into()],
        expires_at: None,
        linked_at: t0(),
        last_used_at: None,
        status: LinkStatus::Active,
    }
}

fn open(dir: &Path) -> Result<SledStore, StoreError> {
    SledStore::open_at(dir, Cipher::for_testing(), 1 << 20)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A leading newline: libtest may have printed "test name ... " without one.
    let _ = writeln!(out, "\n{line}");
    let _ = out.flush();
}

/// Runs this child's role if the environment selects one; true if it did.
async fn run_child_role() -> bool {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return false;
    };
    let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
    match role.as_str() {
        "hold" => {
            let store = open(&dir).unwrap();
            say("CHILD_READY");
            std::thread::sleep(CHILD_LIFETIME);
            drop(store);
        }
        "write" => {
            let run: u64 = std::env::var(RUN_ENV).unwrap().parse().unwrap();
            let store = open(&dir).unwrap();
            for i in 0..WRITES_PER_RUN {
                store
                    .put_link(&link(user_for(run, i), &token_for(run, i)))
                    .await
                    .unwrap();
                say(&format!("CHILD_ACK {i}"));
            }
            std::thread::sleep(CHILD_LIFETIME);
        }
        other => panic!("unknown child role {other}"),
    }
    true
}

/// Spawns this test binary running only `test_name`, in `role`.
fn spawn_child(
    test_name: &str,
    role: &str,
    dir: &Path,
    run: u64,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env(DIR_ENV, dir)
        .env(RUN_ENV, run.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next line from the child that starts with `marker`; panics on timeout or exit.
fn wait_for(rx: &mpsc::Receiver<String>, marker: &str) -> String {
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(marker) => return line,
            Ok(_) => continue,
            Err(e) => panic!("child never printed {marker}: {e}"),
        }
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap(); // SIGKILL on unix: no destructors, no sled flush on drop
    child.wait().unwrap();
}

#[tokio::test]
async fn second_process_is_refused_with_locked() {
    if run_child_role().await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let (child, rx) = spawn_child("second_process_is_refused_with_locked", "hold", &db, 0);
    wait_for(&rx, "CHILD_READY");

    for _ in 0..3 {
        match open(&db) {
            Err(err @ StoreError::Locked { .. }) => {
                let msg = err.to_string();
                assert!(msg.contains("is in use by another process"), "{msg}");
                assert!(msg.contains(&db.display().to_string()), "{msg}");
            }
            other => panic!("expected Locked while the child holds the store, got {other:?}"),
        }
    }

    kill(child);
    // The lock dies with its owner.
    let store = open(&db).unwrap();
    store.flush().await.unwrap();
}

/// The token sealed in `user`'s raw link record (the store must be closed). `UserToken` has no
/// public accessor, so the plaintext is checked through the cipher.
fn tokens_on_disk(dir: &Path, users: &[u64]) -> Vec<Option<String>> {
    let db = sled::open(dir).unwrap();
    let links = db.open_tree("links/v1").unwrap();
    users
        .iter()
        .map(|user| {
            let raw = links.get(user.to_be_bytes()).unwrap()?;
            let rec: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            let blob = base64::engine::general_purpose::STANDARD
                .decode(rec["token"].as_str().unwrap())
                .unwrap();
            let plain = Cipher::for_testing()
                .open(format!("link-token/v1:{user}").as_bytes(), &blob)
                .unwrap();
            Some(String::from_utf8(plain.to_vec()).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn acknowledged_links_survive_sigkill() {
    if run_child_role().await {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut rng = rand::thread_rng();
    // Every acknowledged (user, token) so far, across runs: all must survive every later kill.
    let mut acked: Vec<(u64, String)> = Vec::new();
    let mut unacked_seen = 0usize;

    for run in 0..KILL_RUNS {
        let (child, rx) = spawn_child("acknowledged_links_survive_sigkill", "write", &db, run);
        // Kill after a random number of acknowledgements: often while the next write is in
        // flight, sometimes after the child is idle.
        let kill_after = rng.gen_range(1..=WRITES_PER_RUN);
        for i in 0..kill_after {
            let line = wait_for(&rx, "CHILD_ACK ");
            assert_eq!(line, format!("CHILD_ACK {i}"));
            acked.push((user_for(run, i), token_for(run, i)));
        }
        kill(child);

        // Reopen through the store: every acknowledged link is there and unseals.
        {
            let store =
                open(&db).unwrap_or_else(|e| panic!("run {run}: reopen after SIGKILL failed: {e}"));
            for (user, _) in &acked {
                let got = store
                    .get_link(*user)
                    .await
                    .unwrap_or_else(|e| panic!("run {run}: link of {user} unreadable: {e}"))
                    .unwrap_or_else(|| panic!("run {run}: acknowledged link of {user} lost"));
                assert_eq!(got.soe_user_id, *user as i64 + 5);
                assert_eq!(got.soe_user_name, format!("user {user}"));
            }
            // A write that was cut off is either absent or complete, never garbage.
            for i in kill_after..WRITES_PER_RUN {
                if store.get_link(user_for(run, i)).await.unwrap().is_some() {
                    unacked_seen += 1;
                }
            }
        }
        // And the tokens are exactly the acknowledged ones.
        let users: Vec<u64> = acked.iter().map(|(u, _)| *u).collect();
        let tokens = tokens_on_disk(&db, &users);
        for ((user, token), found) in acked.iter().zip(tokens) {
            assert_eq!(
                found.as_deref(),
                Some(token.as_str()),
                "run {run}: token of {user}"
            );
        }
    }
    println!(
        "{KILL_RUNS} SIGKILL runs, {} acknowledged links, 0 lost; {unacked_seen} unacknowledged writes \
         also survived; {:?} total",
        acked.len(),
        started.elapsed()
    );
    assert!(
        started.elapsed() < StdDuration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}
