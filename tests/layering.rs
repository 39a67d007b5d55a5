//! The layering rule: `commands/` (the use cases) never imports a transport or storage crate.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn commands_never_import_serenity_axum_reqwest_or_sled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() >= 5, "found the use-case files: {files:?}");
    let forbidden = ["serenity", "axum", "reqwest", "sled", "tower", "hyper"];
    let mut hits = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("utf-8");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for krate in forbidden {
                let used =
                    code.contains(&format!("{krate}::")) || code.contains(&format!("use {krate}"));
                if used {
                    hits.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "commands/ must stay transport-free:\n{}",
        hits.join("\n")
    );
}

#[test]
fn the_check_would_catch_an_import() {
    // The scanner above is only useful if it recognises the forms an import takes.
    for line in [
        "use serenity::all::Http;",
        "let c = reqwest::Client::new();",
        "use sled;",
    ] {
        let code = line.split("//").next().unwrap_or_default();
        assert!(["serenity", "reqwest", "sled"]
            .iter()
            .any(|k| code.contains(&format!("{k}::")) || code.contains(&format!("use {k}"))));
    }
}
