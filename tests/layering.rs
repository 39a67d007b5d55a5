//! The layering rule: `commands/` (the use cases) never imports a transport or storage crate
//! (serenity, axum, reqwest, sled, sqlx, tower, hyper).
//!
//! The check tokenizes each source file (with `proc-macro2`, so comments, doc comments and
//! string literals are never mistaken for code) and reports every place a forbidden crate is
//! named as a crate: the root of a `use` tree (`use sled;`, `use ::sled::Db;`,
//! `use {tokio, reqwest::Client};`), `extern crate sled;`, and a path used without `use`
//! (`reqwest::Client::new()`, `::sled::open(…)`). A module of our own with the same name
//! reached through a path (`crate::store::sled::…`, `super::reqwest::…`) is not the crate and
//! is not reported.

use std::path::Path;
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// The crates `commands/` must not name.
const FORBIDDEN: [&str; 7] = [
    "serenity", "axum", "reqwest", "sled", "sqlx", "tower", "hyper",
];

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

/// A flattened token: what the scanner needs to tell paths apart.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String, usize),
    /// `::`
    PathSep,
    Open(Delimiter),
    Close,
    Comma,
    Semi,
    Other,
}

fn flatten(stream: TokenStream, out: &mut Vec<Tok>) {
    let mut iter = stream.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(i) => out.push(Tok::Ident(i.to_string(), i.span().start().line)),
            TokenTree::Group(g) => {
                out.push(Tok::Open(g.delimiter()));
                flatten(g.stream(), out);
                out.push(Tok::Close);
            }
            TokenTree::Punct(p) if p.as_char() == ':' && p.spacing() == Spacing::Joint => {
                match iter.peek() {
                    Some(TokenTree::Punct(q)) if q.as_char() == ':' => {
                        iter.next();
                        out.push(Tok::PathSep);
                    }
                    _ => out.push(Tok::Other),
                }
            }
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(Tok::Comma),
            TokenTree::Punct(p) if p.as_char() == ';' => out.push(Tok::Semi),
            _ => out.push(Tok::Other),
        }
    }
}

/// Every place `source` names a forbidden crate, as `line: crate`. Unparseable source is an
/// error (the check must not silently pass a file it could not read).
pub fn forbidden_crate_uses(source: &str) -> Result<Vec<String>, String> {
    let stream = TokenStream::from_str(source).map_err(|e| format!("does not tokenize: {e}"))?;
    let mut toks = Vec::new();
    flatten(stream, &mut toks);
    let forbidden = |t: &Tok| match t {
        Tok::Ident(name, line) if FORBIDDEN.contains(&name.as_str()) => Some((name.clone(), *line)),
        _ => None,
    };
    let mut hits = Vec::new();
    // Inside a `use` item: whether the next identifier is the root of a path, and for each
    // open group whether its entries are roots.
    let mut in_use = false;
    let mut expect_root = false;
    let mut groups: Vec<bool> = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| &toks[j]);
        let prev2 = i.checked_sub(2).map(|j| &toks[j]);
        if in_use {
            match t {
                Tok::Ident(..) => {
                    if expect_root {
                        if let Some((name, line)) = forbidden(t) {
                            hits.push(format!("{line}: {name}"));
                        }
                    }
                    expect_root = false;
                }
                // A leading `::` keeps the root position.
                Tok::PathSep => {}
                Tok::Open(_) => groups.push(expect_root),
                Tok::Comma => expect_root = groups.last().copied().unwrap_or(false),
                Tok::Close => {
                    groups.pop();
                    expect_root = false;
                }
                Tok::Semi if groups.is_empty() => in_use = false,
                _ => expect_root = false,
            }
            continue;
        }
        match t {
            Tok::Ident(word, _) if word == "use" && prev != Some(&Tok::PathSep) => {
                in_use = true;
                expect_root = true;
                groups.clear();
            }
            Tok::Ident(..) => {
                let Some((name, line)) = forbidden(t) else {
                    continue;
                };
                let extern_crate = matches!(prev, Some(Tok::Ident(w, _)) if w == "crate")
                    && matches!(prev2, Some(Tok::Ident(w, _)) if w == "extern");
                let starts_path = toks.get(i + 1) == Some(&Tok::PathSep);
                // `a::reqwest::…` is a path inside something else; `::reqwest::…` (nothing
                // path-like before the `::`) is the crate.
                let inside_path =
                    prev == Some(&Tok::PathSep) && matches!(prev2, Some(Tok::Ident(..)));
                if extern_crate || (starts_path && !inside_path) {
                    hits.push(format!("{line}: {name}"));
                }
            }
            _ => {}
        }
    }
    Ok(hits)
}

#[test]
fn commands_never_import_serenity_axum_reqwest_or_sled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    assert!(files.len() >= 5, "found the use-case files: {files:?}");
    let mut hits = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("utf-8");
        match forbidden_crate_uses(&text) {
            Ok(found) => hits.extend(found.into_iter().map(|h| format!("{}:{h}", f.display()))),
            Err(e) => hits.push(format!("{}: {e}", f.display())),
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
    // Every form a crate can be named in, each on its own, through the real scanner.
    for source in [
        "use serenity::all::Http;",
        "use sled;",
        "use sled as kv;",
        "use ::sled::Db;",
        "use {std::sync::Arc, reqwest::Client};",
        "use {sled, std::fmt};",
        "use ::{tokio::sync::Mutex, axum::Router};",
        "pub(crate) use hyper::body::Bytes;",
        "extern crate sled;",
        "fn f() { let c = reqwest::Client::new(); }",
        "fn f() -> ::tower::ServiceBuilder<()> { ::tower::ServiceBuilder::new() }",
        "fn f(t: &sled::Tree) {}",
        "fn f() { let v = vec![reqwest::Method::GET]; }",
        "impl From<serenity::Error> for E { fn from(_: serenity::Error) -> Self { E } }",
    ] {
        let hits = forbidden_crate_uses(source).expect("tokenizes");
        assert!(!hits.is_empty(), "missed: {source}");
    }
    let hits =
        forbidden_crate_uses("use std::fmt;\nfn f() {\n    let c = reqwest::Client::new();\n}\n")
            .expect("tokenizes");
    assert_eq!(hits, ["3: reqwest"], "the line and the crate are named");
}

#[test]
fn the_check_ignores_what_is_not_the_crate() {
    for source in [
        "// use sled::Db;",
        "/* reqwest::Client */ fn f() {}",
        "/// Talks to Discord without serenity::Http.\nfn f() {}",
        "fn f() -> &'static str { \"reqwest::Client and use sled;\" }",
        "fn f() -> &'static str { r#\"axum::Router\"# }",
        "use crate::store::sled::Tree;",
        "use crate::store::{sled, Store};",
        "fn f() { super::reqwest::call(); }",
        "fn f() { let sled = 1; let tower = sled + 1; }",
        "use soe::{self, SoeRead};",
        "fn f() { let hyperlink = reqwester::x(); }",
    ] {
        let hits = forbidden_crate_uses(source).expect("tokenizes");
        assert!(hits.is_empty(), "false positive on {source}: {hits:?}");
    }
    assert!(
        forbidden_crate_uses("fn f() { \"unterminated }").is_err(),
        "a file that does not tokenize is an error, not a pass"
    );
}
