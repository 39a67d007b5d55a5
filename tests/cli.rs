//! The command line: `check-config` names every missing secret and exits 2; `keygen` prints a
//! usable key; a good config passes and is printed redacted.

use std::process::Command;

fn soe_bot() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_soe-bot"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SOE_BOT_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn check_config_on_the_example_names_each_missing_secret_and_exits_2() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/bot.toml.example");
    let out = soe_bot()
        .args(["check-config", "--config", example])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for key in [
        "soe.service_token",
        "discord.token",
        "discord.client_secret",
        "storage.encryption_key",
    ] {
        assert!(
            stderr.contains(&format!("{key}: missing")),
            "{key} not named:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("soe-bot keygen"),
        "says how to make a key:\n{stderr}"
    );
    // The example deliberately serves no guild until the operator names theirs.
    assert!(
        stderr.contains("discord.allowed_guilds: missing") && stderr.contains("Copy Server ID"),
        "says what allowed_guilds is and how to find a guild id:\n{stderr}"
    );
    assert_eq!(
        stderr.matches("  - ").count(),
        5,
        "only the four secrets and the guilds are missing:\n{stderr}"
    );
}

#[test]
fn keygen_output_passes_check_config_and_secrets_are_redacted() {
    let key = soe_bot().arg("keygen").output().unwrap();
    assert!(key.status.success());
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    assert_eq!(key.len(), 44, "32 bytes of base64: {key}");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/bot.toml.example");
    let out = soe_bot()
        .args(["check-config", "--config", example])
        .env("SOE_BOT_STORAGE__ENCRYPTION_KEY", &key)
        .env("SOE_BOT_DISCORD__TOKEN", "discord-SECRET-canary")
        .env("SOE_BOT_DISCORD__CLIENT_SECRET", "client-SECRET-canary")
        .env("SOE_BOT_SOE__SERVICE_TOKEN", "service-SECRET-canary")
        .env("SOE_BOT_DISCORD__ALLOWED_GUILDS", "[123456789012345678]")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("configuration OK"));
    for secret in [
        key.as_str(),
        "discord-SECRET-canary",
        "client-SECRET-canary",
        "service-SECRET-canary",
    ] {
        assert!(!stdout.contains(secret), "secret printed:\n{stdout}");
    }
    assert!(stdout.contains("discord.token = [REDACTED]"));
    assert!(
        stdout.contains("discord.allowed_guilds = [123456789012345678]"),
        "{stdout}"
    );
}

#[test]
fn a_bad_value_is_named_with_what_to_do() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/bot.toml.example");
    let out = soe_bot()
        .args(["check-config", "--config", example])
        .env("SOE_BOT_STORAGE__ENCRYPTION_KEY", "dG9vIHNob3J0")
        .env("SOE_BOT_DISCORD__TOKEN", "x")
        .env("SOE_BOT_SOE__SERVICE_TOKEN", "y")
        .env("SOE_BOT_SOE__SITE_URL", "http://acme.example.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("storage.encryption_key: must be 32 bytes of base64 (this is 9 bytes); create one with `soe-bot keygen`"), "{stderr}");
    assert!(
        stderr.contains("soe.site_url: must be an https:// URL"),
        "{stderr}"
    );
    let missing = soe_bot()
        .args(["check-config", "--config", "/nonexistent/bot.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("copy bot.toml.example"));
}

/// Kubernetes injects these into every pod when a Service named `soe-bot` exists. They are not
/// settings: the bot must start anyway, and say once which ones it ignored.
const KUBERNETES_SERVICE_VARS: [(&str, &str); 7] = [
    ("SOE_BOT_PORT", "tcp://10.96.0.17:8080"),
    ("SOE_BOT_SERVICE_HOST", "10.96.0.17"),
    ("SOE_BOT_SERVICE_PORT", "8080"),
    ("SOE_BOT_PORT_8080_TCP", "tcp://10.96.0.17:8080"),
    ("SOE_BOT_PORT_8080_TCP_ADDR", "10.96.0.17"),
    ("SOE_BOT_PORT_8080_TCP_PORT", "8080"),
    ("SOE_BOT_PORT_8080_TCP_PROTO", "tcp"),
];

#[test]
fn kubernetes_service_variables_are_ignored_with_one_warning_naming_them() {
    let key = soe_bot().arg("keygen").output().unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/bot.toml.example");
    let mut cmd = soe_bot();
    cmd.args(["check-config", "--config", example])
        .env("SOE_BOT_STORAGE__ENCRYPTION_KEY", &key)
        .env("SOE_BOT_DISCORD__TOKEN", "discord-SECRET-canary")
        .env("SOE_BOT_DISCORD__CLIENT_SECRET", "client-SECRET-canary")
        .env("SOE_BOT_SOE__SERVICE_TOKEN", "service-SECRET-canary")
        .env("SOE_BOT_DISCORD__ALLOWED_GUILDS", "[123456789012345678]")
        // A known key among the strays still applies.
        .env("SOE_BOT_LOG__FORMAT", "json");
    for (k, v) in KUBERNETES_SERVICE_VARS {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "refused to start:\n{stderr}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(stdout.contains("log.format = json"), "{stdout}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("ignored")).collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{stderr}");
    for (k, _) in KUBERNETES_SERVICE_VARS {
        assert!(warnings[0].contains(k), "{k} not named:\n{stderr}");
    }
    assert!(
        !warnings[0].contains("10.96.0.17"),
        "values are not echoed:\n{stderr}"
    );
    assert!(
        !warnings[0].contains("SOE_BOT_LOG__FORMAT"),
        "known keys are not named:\n{stderr}"
    );
}

#[test]
fn an_unknown_key_in_the_file_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bot.toml.example")).unwrap();
    let path = dir.path().join("bot.toml");
    std::fs::write(&path, example.replace("[web]", "[web]\nport = 8080")).unwrap();
    let out = soe_bot()
        .args(["check-config", "--config"])
        .arg(&path)
        .env("SOE_BOT_PORT", "tcp://10.96.0.17:8080")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("web.port"), "{stderr}");
    assert!(stderr.contains("unknown field"), "{stderr}");
}
