//! Durability of a completed link: a child process links a member through the whole flow,
//! reports success, and is killed with SIGKILL; reopening the store finds the link.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use soe_bot::store::cipher::Cipher;
use soe_bot::store::{SledStore, Store};
use support::test_app::TestApp;

const CHILD_ENV: &str = "SOE_BOT_TEST_LINK_CHILD_DIR";
const RUNS: usize = 20;

/// Child entry point: only does something when the parent test re-executes this binary with
/// the environment variable set.
#[test]
fn child_links_then_waits_to_be_killed() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let app = TestApp::builder().store_dir(dir.into()).start().await;
        let member = TestApp::member(111, "alice");
        app.link(&member).await;
        println!("LINKED");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    });
}

#[tokio::test]
async fn a_link_reported_as_done_survives_sigkill() {
    let exe = std::env::current_exe().expect("test binary");
    for run in 0..RUNS {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_links_then_waits_to_be_killed",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let linked = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("LINKED"));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        assert!(linked, "run {run}: the child never reported a link");
        let store = SledStore::open_at(&db, Cipher::for_testing(), 1 << 20).expect("reopen");
        let link = store
            .get_link(111)
            .await
            .expect("readable")
            .unwrap_or_else(|| panic!("run {run}: link lost after SIGKILL"));
        assert_eq!(link.soe_user_id, soe_bot::fake_soe::JANE);
    }
}
