//! Leadership among replicas: which process runs the work that must run once (the
//! notification poller and the outbox delivery; in gateway mode, the Discord gateway).
//!
//! With sled there is one process, always the leader ([`Leadership::always`]). With
//! PostgreSQL, replicas elect one by an advisory lock held on a dedicated connection
//! ([`crate::store::pg_store::leader`]): losing that connection loses leadership, and a
//! standby takes over within `storage.leader_check_secs`. Invariants: a [`Leadership`] only
//! says "leading" while the lock is held as far as this process can tell (it turns false the
//! moment a check fails); [`while_leading`] runs its work only while leading and stops it
//! (aborts the tasks) as soon as leadership is lost; the state is exported as the
//! [`LEADER`] gauge and in `/readyz` notes. HTTP interactions need no leader: every replica
//! answers them.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Gauge: 1 while this process leads, 0 while it stands by.
pub const LEADER: &str = "soe_bot_leader";

/// This process's view of who leads.
#[derive(Debug, Clone)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    /// Keeps the sender of [`Leadership::always`] alive (the receiver would read "closed").
    _always: Option<Arc<watch::Sender<bool>>>,
}

impl Leadership {
    /// The only process: always the leader (sled).
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(true);
        Self {
            rx,
            _always: Some(Arc::new(tx)),
        }
    }

    /// Leadership as an election reports it on `rx`.
    pub fn from_watch(rx: watch::Receiver<bool>) -> Self {
        Self { rx, _always: None }
    }

    /// Whether this process leads now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until this process's leadership is `leading` (returns at once if it is). Returns
    /// false when the election ended (the process is stopping).
    pub async fn wait_for(&self, leading: bool) -> bool {
        let mut rx = self.rx.clone();
        let reached = rx.wait_for(|l| *l == leading).await.is_ok();
        reached
    }

    /// What the `/readyz` notes say about it.
    pub fn note(&self) -> String {
        if self.is_leader() {
            "leader: this replica runs the notification poller".into()
        } else {
            "leader: another replica leads; this one answers interactions and stands by".into()
        }
    }
}

/// Runs the tasks `start` spawns while this process leads: starts them each time leadership
/// is gained, aborts them each time it is lost, and returns (aborting them) once `stop`
/// turns true. Sets the [`LEADER`] gauge as it goes.
pub async fn while_leading(
    leadership: Leadership,
    mut start: impl FnMut() -> Vec<JoinHandle<()>> + Send,
    mut stop: watch::Receiver<bool>,
) {
    let mut running: Vec<JoinHandle<()>> = Vec::new();
    let mut rx = leadership.rx.clone();
    loop {
        let leading = *rx.borrow_and_update();
        metrics::gauge!(LEADER).set(if leading { 1.0 } else { 0.0 });
        if leading && running.is_empty() {
            tracing::info!("leading: starting the notification poller");
            running = start();
        } else if !leading && !running.is_empty() {
            tracing::warn!("leadership lost: stopping the notification poller");
            for t in running.drain(..) {
                t.abort();
            }
        }
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    for t in running {
        t.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn work_runs_only_while_leading_and_stops_on_loss() {
        let (tx, rx) = watch::channel(false);
        let (stop_tx, stop_rx) = watch::channel(false);
        let starts = Arc::new(AtomicUsize::new(0));
        let alive = Arc::new(AtomicUsize::new(0));
        let (s, a) = (starts.clone(), alive.clone());
        let runner = tokio::spawn(while_leading(
            Leadership::from_watch(rx),
            move || {
                s.fetch_add(1, Ordering::SeqCst);
                let a = a.clone();
                vec![tokio::spawn(async move {
                    a.fetch_add(1, Ordering::SeqCst);
                    // Counts down when aborted (dropped).
                    struct Down(Arc<AtomicUsize>);
                    impl Drop for Down {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let _down = Down(a);
                    std::future::pending::<()>().await;
                })]
            },
            stop_rx,
        ));
        let settle = || tokio::time::sleep(Duration::from_millis(50));
        settle().await;
        assert_eq!(starts.load(Ordering::SeqCst), 0, "a standby starts nothing");
        tx.send(true).unwrap();
        settle().await;
        assert_eq!(
            (starts.load(Ordering::SeqCst), alive.load(Ordering::SeqCst)),
            (1, 1)
        );
        tx.send(false).unwrap();
        settle().await;
        assert_eq!(alive.load(Ordering::SeqCst), 0, "stopped on loss");
        tx.send(true).unwrap();
        settle().await;
        assert_eq!(
            (starts.load(Ordering::SeqCst), alive.load(Ordering::SeqCst)),
            (2, 1)
        );
        stop_tx.send(true).unwrap();
        runner.await.unwrap();
        assert_eq!(alive.load(Ordering::SeqCst), 0, "stopped at shutdown");
    }

    #[test]
    fn a_single_process_always_leads() {
        let l = Leadership::always();
        assert!(l.is_leader());
        assert!(l.note().contains("this replica"));
    }
}
