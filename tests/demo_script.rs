//! `soe-bot demo --script`: the newcomer's tour runs end to end (search → link → ask → answer →
//! accept) through the real binary, and a failing line makes the process exit non-zero.

use std::process::Command;

fn demo(script: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_soe-bot"))
        .args(["demo", "--script", script])
        .env_remove("RUST_LOG")
        .output()
        .expect("run soe-bot demo")
}

#[test]
fn the_tour_runs_end_to_end() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo_tour.txt");
    let out = demo(script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for step in [
        "Search: async",
        "Account linked",
        "Posted as *Jane Doe*",
        "accepted answer",
    ] {
        assert!(stdout.contains(step), "missing {step:?} in:\n{stdout}");
    }
}

#[test]
fn a_failing_line_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, "/so help\nexpect this text is not there\n/so help\n").unwrap();
    let out = demo(path.to_str().unwrap());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("script line 2 failed"), "{stderr}");
    std::fs::write(&path, "press 9\n").unwrap();
    assert!(
        !demo(path.to_str().unwrap()).status.success(),
        "pressing a missing button fails"
    );
}

#[test]
fn subscribe_then_a_new_question_on_the_site_shows_its_card() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/demo_notify.txt"
    );
    let out = demo(script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("card in <#10>"), "{stdout}");
    assert_eq!(
        stdout.matches("card in <#10>").count(),
        1,
        "one card, once:\n{stdout}"
    );
}

#[test]
fn a_solved_thread_is_saved_with_each_author_agreeing() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo_save.txt");
    let out = demo(script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        stdout.matches("message in <#7000>:").count(),
        1,
        "one card in the thread:\n{stdout}"
    );
    assert!(
        stdout.contains("Question posted as **Jane Doe**"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Answer posted as **Sam Rivera** and accepted"),
        "{stdout}"
    );
}

#[test]
fn admin_settings_are_audited_and_doctor_posts_a_test_card() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo_admin.txt");
    let out = demo(script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        stdout.matches("message in <#11>").count(),
        3,
        "one audit entry per change:\n{stdout}"
    );
    assert!(
        stdout.contains("set the default tags of <#10> to `rust`, `async`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("turned cards after a post off in <#10>"),
        "{stdout}"
    );
    assert!(
        stdout.contains("soe-bot für"),
        "the help in German:\n{stdout}"
    );
    assert!(
        stdout.contains("message in <#10>") && stdout.contains("soe-bot test card"),
        "{stdout}"
    );
}

#[test]
fn metrics_show_the_named_series_after_the_tour_and_no_member_data() {
    let tour = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/demo_tour.txt"
    ))
    .unwrap();
    // Then the notifications demo, so a poll and a delivery round have run and the poller's
    // series have values.
    let notify = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/demo_notify.txt"
    ))
    .unwrap();
    let mut script = tour.clone();
    script.push('\n');
    script.push_str(&notify);
    script.push_str("\nget /metrics\n");
    for series in [
        "soe_bot_commands_total{command=\"so search\",outcome=\"served\"}",
        "soe_bot_interaction_ack_seconds_bucket{transport=\"console\"",
        "soe_bot_soe_requests_total{endpoint=\"/search\",status=\"200\",token=\"service\"}",
        "soe_bot_soe_request_seconds_bucket{endpoint=\"/questions/{id}/answers\",token=\"member\"",
        "soe_bot_soe_throttle_calls_left{token=\"service\"",
        "soe_bot_service_budget_used_ratio{window=\"minute\"}",
        "soe_bot_cache_lookups_total{cache=\"search\",result=\"miss\"}",
        "soe_bot_linked_members",
        "soe_bot_drafts_waiting",
        "soe_bot_alert_members{kind=\"alerts\"}",
        "soe_bot_alert_members{kind=\"experts\"}",
        "soe_bot_personal_alerts_waiting",
        "soe_bot_notify_poll_lag_seconds{target=\"site\"}",
        "soe_bot_notify_last_success_timestamp_seconds{target=\"site\"}",
        "soe_bot_notify_outbox_depth 0",
    ] {
        script.push_str(&format!("expect {series}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tour_and_metrics.txt");
    std::fs::write(&path, &script).unwrap();
    let out = demo(path.to_str().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let metrics = &stdout[stdout.rfind("> get /metrics").expect("metrics printed")..];
    // No label carries a user id or text a member typed: every label value is from a fixed
    // set. The tour's member ids, search words and titles must not appear.
    for forbidden in ["async", "you", "jane", "Jane", "1000", "tokio"] {
        for line in metrics.lines().filter(|l| l.contains('{')) {
            let labels = &line[line.find('{').unwrap()..line.rfind('}').unwrap_or(line.len())];
            assert!(
                !labels.contains(forbidden),
                "`{forbidden}` in a label: {line}"
            );
        }
    }
}
