//! The background loops: one poll loop per SOE target (started when a rule first names the
//! target), and one delivery loop that sends the outbox, woken as soon as a poll queues
//! something (and every few seconds for retries).
//!
//! Invariants: a target has at most one loop; loops never end on an error (they log it and
//! wait for the next tick; [`super::poll::Poller::poll`] backs off by itself); the delivery
//! loop also forgets sent cards past the edit window.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::deliver::Deliverer;
use super::model::EDIT_WINDOW_SECS;
use super::poll::Poller;

/// How often the delivery loop looks at the outbox without being woken (retries, digests).
pub const DELIVERY_TICK: Duration = Duration::from_secs(5);

/// Starts the loops; returns their handles (abort them to stop).
pub fn spawn(poller: Arc<Poller>, deliverer: Arc<Deliverer>) -> Vec<JoinHandle<()>> {
    let wake = Arc::new(Notify::new());
    let interval = poller.settings().interval;
    let supervisor = {
        let wake = wake.clone();
        let poller = poller.clone();
        tokio::spawn(async move {
            let mut running: HashSet<String> = HashSet::new();
            // Dropping the set (the supervisor aborted) aborts every poll loop.
            let mut loops = tokio::task::JoinSet::new();
            loop {
                match poller.targets().await {
                    Ok(targets) => {
                        for target in targets {
                            if running.insert(target.key()) {
                                let poller = poller.clone();
                                let wake = wake.clone();
                                loops.spawn(async move {
                                    loop {
                                        match poller.poll(&target).await {
                                            Ok(r) if r.queued > 0 => wake.notify_one(),
                                            Ok(_) => {}
                                            Err(e) => {
                                                tracing::debug!(target = %target.key(), error = %e, "poll failed")
                                            }
                                        }
                                        tokio::time::sleep(interval).await;
                                    }
                                });
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not read the subscription rules"),
                }
                tokio::time::sleep(interval).await;
            }
        })
    };
    let delivery = tokio::spawn(async move {
        let mut last_sweep = tokio::time::Instant::now();
        loop {
            match deliverer.deliver_due().await {
                Ok(r) if r.sent + r.edited + r.digests + r.failed > 0 => {
                    tracing::debug!(
                        sent = r.sent,
                        edited = r.edited,
                        digests = r.digests,
                        failed = r.failed,
                        "outbox delivered"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox delivery failed"),
            }
            if last_sweep.elapsed() > Duration::from_secs(3600) {
                last_sweep = tokio::time::Instant::now();
                let before = deliverer.now() - chrono::Duration::seconds(EDIT_WINDOW_SECS);
                if let Err(e) = deliverer.store().sweep_delivered(before).await {
                    tracing::warn!(error = %e, "could not sweep sent cards");
                }
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(DELIVERY_TICK) => {}
            }
        }
    });
    vec![supervisor, delivery]
}
