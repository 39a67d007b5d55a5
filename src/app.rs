//! [`App`]: the shared dependencies handed to the transports (Discord gateway, HTTP
//! interactions, console), and the background tasks every transport needs.
//!
//! Built once at startup from the validated config (or by `demo` and tests from a fake site).
//! Invariants: exactly one store, one SOE client and one linking service per process; the
//! linked-event listener is the only place drafts are posted after linking; at most one set of
//! notification loops runs ([`App::spawn_notifications`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::clock::SharedClock;
use crate::commands::{AccessPolicy, Commands, Notice, SiteInfo};
use crate::config::LimitsConfig;
use crate::leader::Leadership;
use crate::link::{LinkService, LinkSettings, Linked};
use crate::notify::{
    CardSink, Deliverer, PersonalSettings, PollSettings, Poller, Recipients, Target,
};
use crate::soe::{HttpSoe, SoeConnector};
use crate::store::{Store, CLAIM_STALE_SECS};

/// Delivers [`Notice`]s outside an interaction: a DM on Discord, a line in the console.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one notice. Failures are the notifier's to log; a notice is never retried
    /// in a way that could post twice (posting already happened).
    async fn notify(&self, notice: Notice);
}

/// Personal alerts go to members of the allowed guilds only ([`crate::commands::AccessGate`]).
struct GateRecipients(Arc<Commands>);

#[async_trait]
impl Recipients for GateRecipients {
    async fn still_member(&self, user: u64) -> Result<bool, String> {
        self.0
            .access()
            .still_member(user)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Everything the transports share.
pub struct App {
    /// The use cases.
    pub commands: Arc<Commands>,
    /// Linking (the web server's routes).
    pub link: Arc<LinkService>,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: SharedClock,
    /// The SOE client (connection pool).
    pub soe: Arc<HttpSoe>,
    /// Interactions being handled (a deferred use case, a gateway event): shutdown closes it
    /// and waits for them, up to [`crate::lifecycle::SHUTDOWN_GRACE`]. Once closed, the HTTP
    /// endpoint takes no new interaction.
    pub in_flight: tokio_util::task::TaskTracker,
    /// The notification loops' settings (`notify.*`; the defaults until `run` sets them).
    pub poll: parking_lot::Mutex<PollSettings>,
}

/// What [`App::build`] needs.
pub struct AppParts {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Time.
    pub clock: SharedClock,
    /// The SOE client.
    pub soe: Arc<HttpSoe>,
    /// Service reader and member writers.
    pub connector: Arc<dyn SoeConnector>,
    /// Linking settings.
    pub link: LinkSettings,
    /// The site as members see it.
    pub site: SiteInfo,
    /// Per-member limits.
    pub limits: LimitsConfig,
    /// Which guilds and DMs are served; which role ids grant admin commands.
    pub access: AccessPolicy,
}

impl App {
    /// Wires the app. Returns it with the receiver of [`Linked`] events, to be given to
    /// [`App::spawn_background`].
    pub fn build(parts: AppParts) -> Result<(Arc<App>, mpsc::UnboundedReceiver<Linked>), String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Arc::new(LinkService::new(
            parts.link,
            parts.store.clone(),
            parts.clock.clone(),
            parts.soe.clone(),
            Some(tx),
        )?);
        let commands = Arc::new(Commands::new(
            parts.store.clone(),
            parts.clock.clone(),
            parts.connector,
            link.clone(),
            parts.site,
            parts.limits,
            parts.access,
        ));
        Ok((
            Arc::new(App {
                commands,
                link,
                store: parts.store,
                clock: parts.clock,
                soe: parts.soe,
                in_flight: tokio_util::task::TaskTracker::new(),
                poll: parking_lot::Mutex::new(PollSettings::default()),
            }),
            rx,
        ))
    }

    /// The notification loops' settings.
    pub fn poll_settings(&self) -> PollSettings {
        self.poll.lock().clone()
    }

    /// Sets the notification loops' settings (before starting them).
    pub fn set_poll_settings(&self, settings: PollSettings) {
        *self.poll.lock() = settings;
    }

    /// Starts the notification loops ([`crate::notify::run`]): one poll loop per SOE target
    /// reading with the service token behind the global budget, and the delivery of the
    /// outbox through `sink`.
    pub fn spawn_notifications(
        self: &Arc<Self>,
        sink: Arc<dyn CardSink>,
        settings: PollSettings,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (poller, deliverer) = self.notifications(sink, settings);
        crate::notify::run::spawn(poller, deliverer)
    }

    /// The poller and the deliverer [`App::spawn_notifications`] runs (tests drive them one
    /// step at a time).
    pub fn notifications(
        self: &Arc<Self>,
        sink: Arc<dyn CardSink>,
        settings: PollSettings,
    ) -> (Arc<Poller>, Arc<Deliverer>) {
        let commands = self.commands.clone();
        let poller = Arc::new(Poller::new(
            self.store.clone(),
            self.clock.clone(),
            Arc::new(move |t: &Target| commands.service_reader(t.0.as_ref())),
            settings,
        ));
        let recipients: Arc<dyn Recipients> = Arc::new(GateRecipients(self.commands.clone()));
        let deliverer = Arc::new(
            Deliverer::new(self.store.clone(), self.clock.clone(), sink).with_personal(
                Some(recipients),
                PersonalSettings {
                    expert_daily_cap: self.commands.limits.expert_dms_per_day,
                },
            ),
        );
        (poller, deliverer)
    }

    /// Starts the background work: first settling posts and votes an earlier process left
    /// half-done ([`Commands::recover_interrupted`]), then posting drafts when members finish
    /// linking (telling them through `notifier`), refreshing the tag list every 10 minutes (the
    /// caller loads it once at startup), and sweeping expired linking records, drafts, write
    /// outcomes and idle rate buckets every minute, after which the linked members and waiting
    /// drafts are counted for the metrics.
    pub fn spawn_background(
        self: &Arc<Self>,
        linked: mpsc::UnboundedReceiver<Linked>,
        notifier: Arc<dyn Notifier>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.spawn_background_among(linked, notifier, None)
    }

    /// [`App::spawn_background`] for one replica among several (`replicas`: this process's
    /// leadership; `None` for the only process). With replicas, nothing is settled at
    /// startup (another replica may be posting right now); instead the leader settles, every
    /// minute, the posts and votes interrupted longer ago than [`CLAIM_STALE_SECS`]: by then
    /// any request still in flight has timed out, so what is left was abandoned by a replica
    /// that died.
    pub fn spawn_background_among(
        self: &Arc<Self>,
        mut linked: mpsc::UnboundedReceiver<Linked>,
        notifier: Arc<dyn Notifier>,
        replicas: Option<Leadership>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut recovery = None;
        if let Some(leadership) = replicas.clone() {
            let app = self.clone();
            let notify = notifier.clone();
            recovery = Some(tokio::spawn(async move {
                let every = Duration::from_secs(60);
                loop {
                    tokio::time::sleep(every).await;
                    if !leadership.is_leader() {
                        continue;
                    }
                    let cutoff = app.clock.now() - chrono::Duration::seconds(CLAIM_STALE_SECS);
                    for notice in app.commands.recover_interrupted_before(cutoff).await {
                        notify.notify(notice).await;
                    }
                }
            }));
        }
        let app = self.clone();
        let notify = notifier.clone();
        let alone = replicas.is_none();
        let resume = tokio::spawn(async move {
            if alone {
                for notice in app.commands.recover_interrupted().await {
                    notify.notify(notice).await;
                }
            }
            while let Some(event) = linked.recv().await {
                for notice in app.commands.on_linked(&event).await {
                    notify.notify(notice).await;
                }
                record_counts(app.store.clone()).await;
            }
        });
        let app = self.clone();
        let tags = tokio::spawn(async move {
            // The first load happens at startup (run, demo); refresh from then on.
            let every = Duration::from_secs(600);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                match app.commands.refresh_tags().await {
                    Ok(n) => tracing::debug!(tags = n, "tag list refreshed"),
                    Err(e) => {
                        tracing::warn!(error = %e, "tag list refresh failed; keeping the old list")
                    }
                }
            }
        });
        let app = self.clone();
        let sweep = tokio::spawn(async move {
            record_counts(app.store.clone()).await;
            let every = Duration::from_secs(60);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                tick.tick().await;
                let store = app.store.clone();
                let now = app.clock.now();
                let counting = store.clone();
                match off_the_workers(async move { store.sweep_expired(now).await }).await {
                    Ok(Ok(n)) if n > 0 => tracing::debug!(removed = n, "expired records swept"),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "sweep failed"),
                    Err(e) => tracing::warn!(error = %e, "sweep task failed"),
                }
                record_counts(counting).await;
                // Thread saves whose consents lapsed (24 h) move on.
                let lapsed = crate::commands::thread_save::expire_due(&app.commands).await;
                if lapsed > 0 {
                    tracing::debug!(saves = lapsed, "thread saves with lapsed consents settled");
                }
            }
        });
        let mut tasks = vec![resume, tags, sweep];
        tasks.extend(recovery);
        tasks
    }
}

/// Runs a store call that scans the whole store on the blocking pool, driven there by the
/// runtime's handle, so a backend that does its I/O inline (sled) never stalls an async
/// worker for the length of a scan. (A blocking-pool thread is not a runtime worker: blocking
/// on the handle there is allowed.)
pub(crate) async fn off_the_workers<T, F>(call: F) -> Result<T, tokio::task::JoinError>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(call)).await
}

/// Sets the store-size gauges ([`crate::telemetry::LINKED_MEMBERS`],
/// [`crate::telemetry::DRAFTS_WAITING`], [`crate::telemetry::ALERT_MEMBERS`],
/// [`crate::telemetry::PERSONAL_WAITING`], and the subscription poller's
/// [`crate::telemetry::NOTIFY_LAG`], [`crate::telemetry::NOTIFY_LAST_SUCCESS`] and
/// [`crate::telemetry::NOTIFY_OUTBOX`]).
pub async fn record_counts(store: Arc<dyn Store>) {
    let notify = store.clone();
    match off_the_workers(async move { notify.notify_health().await }).await {
        Ok(Ok(h)) => {
            for (key, state) in &h.targets {
                crate::telemetry::record_notify_target(key, state);
            }
            metrics::gauge!(crate::telemetry::NOTIFY_OUTBOX).set(h.outbox_depth as f64);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "reading the notifications' state failed"),
        Err(e) => tracing::warn!(error = %e, "counting task failed"),
    }
    let personal = store.clone();
    match off_the_workers(async move { personal.personal_health().await }).await {
        Ok(Ok(h)) => {
            metrics::gauge!(crate::telemetry::ALERT_MEMBERS, "kind" => "alerts")
                .set(h.alert_members as f64);
            metrics::gauge!(crate::telemetry::ALERT_MEMBERS, "kind" => "experts")
                .set(h.expert_members as f64);
            metrics::gauge!(crate::telemetry::PERSONAL_WAITING).set(h.outbox_depth as f64);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "counting personal alerts failed"),
        Err(e) => tracing::warn!(error = %e, "counting task failed"),
    }
    match off_the_workers(async move { store.counts().await }).await {
        Ok(Ok(c)) => {
            metrics::gauge!(crate::telemetry::LINKED_MEMBERS).set(c.linked_members as f64);
            metrics::gauge!(crate::telemetry::DRAFTS_WAITING).set(c.drafts_waiting as f64);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "counting the store failed"),
        Err(e) => tracing::warn!(error = %e, "counting task failed"),
    }
}
