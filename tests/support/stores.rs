//! Stores for the tests that run against every backend: a sled store in a temporary directory,
//! or a PostgreSQL store in a fresh schema of the server named by
//! `SOE_BOT_TEST_POSTGRES_URL` (created for the test, dropped after it, even when it fails).
//!
//! PostgreSQL tests are `#[ignore = "needs PostgreSQL: SOE_BOT_TEST_POSTGRES_URL"]`; `.ci/run`
//! starts a server and runs them with `--include-ignored`. Without the variable they fail
//! with a message saying so (never pass silently).

#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use soe_bot::store::cipher::Cipher;
use soe_bot::store::copy::RawRecords;
use soe_bot::store::{PgStore, SledStore, Store, StoreError};
use sqlx::postgres::PgConnectOptions;
use sqlx::Connection;

/// The environment variable naming the test server.
pub const PG_ENV: &str = "SOE_BOT_TEST_POSTGRES_URL";

/// The test server's URL; panics with what to do when unset.
pub fn pg_url() -> String {
    std::env::var(PG_ENV).unwrap_or_else(|_| {
        panic!("{PG_ENV} is not set: point it at a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/test (this test needs one)")
    })
}

/// A schema of its own on the test server, dropped (with everything in it) when this goes.
pub struct Schema {
    /// `soe_test_<random>`.
    pub name: String,
    url: String,
}

impl Schema {
    /// Creates a fresh schema.
    pub async fn new() -> Schema {
        use rand::Rng;
        let url = pg_url();
        let name = format!("soe_test_{:016x}", rand::thread_rng().gen::<u64>());
        let mut c = sqlx::PgConnection::connect(&url)
            .await
            .expect("connect to the test PostgreSQL server");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut c)
            .await
            .expect("create a test schema");
        let _ = c.close().await;
        Schema { name, url }
    }

    /// Connection options whose sessions use this schema only.
    pub fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .expect("a valid SOE_BOT_TEST_POSTGRES_URL")
            .options([("search_path", self.name.as_str())])
    }

    /// A URL for a child process (the bot's `storage.url`) that lands in this schema.
    pub fn url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.url, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop may run inside a runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .execute(&mut c)
                        .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

/// Where a [`Fixture`]'s records live.
pub enum Place {
    /// A sled directory.
    Sled(tempfile::TempDir),
    /// A PostgreSQL schema.
    Pg(Schema),
}

/// An open store of one backend, with raw access to what it stored.
pub struct Fixture {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The same store, as stored bytes.
    pub raw: Arc<dyn RawRecords>,
    /// Where it lives (kept alive for the test).
    pub place: Place,
}

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sled,
    Postgres,
}

/// Opens a sled store in `dir`, waiting (up to 20 s) for a store dropped a moment ago to
/// release its lock.
pub fn open_sled(dir: &std::path::Path, cipher: Cipher) -> Result<SledStore, StoreError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match SledStore::open_at(dir, cipher.clone(), 4 << 20) {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => return other,
        }
    }
}

impl Fixture {
    /// A new, empty store of `kind`, sealed with the test key.
    pub async fn new(kind: Kind) -> Fixture {
        Self::with_cipher(kind, Cipher::for_testing()).await
    }

    /// A new, empty store of `kind`, sealed with `cipher`.
    pub async fn with_cipher(kind: Kind, cipher: Cipher) -> Fixture {
        match kind {
            Kind::Sled => {
                let dir = tempfile::tempdir().expect("tempdir");
                let store = Arc::new(open_sled(dir.path(), cipher).expect("open sled"));
                Fixture {
                    store: store.clone(),
                    raw: store,
                    place: Place::Sled(dir),
                }
            }
            Kind::Postgres => {
                let schema = Schema::new().await;
                let store = Arc::new(
                    PgStore::open_with(schema.options(), 8, cipher)
                        .await
                        .expect("open PostgreSQL"),
                );
                Fixture {
                    store: store.clone(),
                    raw: store,
                    place: Place::Pg(schema),
                }
            }
        }
    }

    /// Closes the store and opens the same records again with `cipher` (on failure the
    /// records stay, with the error).
    pub async fn reopen(self, cipher: Cipher) -> Result<Fixture, (StoreError, Place)> {
        let Fixture { store, raw, place } = self;
        drop(store);
        drop(raw);
        Self::open(place, cipher).await
    }

    /// Opens the records at `place` with `cipher`.
    pub async fn open(place: Place, cipher: Cipher) -> Result<Fixture, (StoreError, Place)> {
        match place {
            Place::Sled(dir) => match open_sled(dir.path(), cipher) {
                Ok(store) => {
                    let store = Arc::new(store);
                    Ok(Fixture {
                        store: store.clone(),
                        raw: store,
                        place: Place::Sled(dir),
                    })
                }
                Err(e) => Err((e, Place::Sled(dir))),
            },
            Place::Pg(schema) => match PgStore::open_with(schema.options(), 8, cipher).await {
                Ok(store) => {
                    let store = Arc::new(store);
                    Ok(Fixture {
                        store: store.clone(),
                        raw: store,
                        place: Place::Pg(schema),
                    })
                }
                Err(e) => Err((e, Place::Pg(schema))),
            },
        }
    }

    /// Another handle on the same records, as a second replica would open them (PostgreSQL
    /// only: sled has one owner).
    pub async fn second_replica(&self) -> Option<Arc<dyn Store>> {
        match &self.place {
            Place::Pg(schema) => Some(Arc::new(
                PgStore::open_with(schema.options(), 8, Cipher::for_testing())
                    .await
                    .expect("second replica"),
            )),
            Place::Sled(_) => None,
        }
    }
}
