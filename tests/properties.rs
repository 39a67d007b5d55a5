//! Property tests over the bot's parsers and renderers: whatever a member types, a site serves
//! or Discord sends, these functions neither panic nor break their promises (limits, round
//! trips, balanced code fences).
//!
//! Seeded and bounded: every run uses the same seed and a modest number of cases, so
//! `cargo test` is repeatable and quick. Set `SOE_BOT_PROPTEST_CASES` (e.g. 100000) for a long
//! run and `SOE_BOT_PROPTEST_SEED` to explore another part of the input space; a failure
//! prints the seed and the shrunk input.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

use soe_bot::commands::ids::{self, Id, Surface};
use soe_bot::commands::reply::truncate;
use soe_bot::commands::show::parse_question_ref;
use soe_bot::commands::validate;
use soe_bot::notify::rule::{format_duration, parse_duration, parse_tags};
use soe_bot::soe::text::{decode_once, html_to_discord};
use soe_bot::soe::Vote;

/// Cases per property: 256 by default, `SOE_BOT_PROPTEST_CASES` for longer runs.
fn config() -> Config {
    let cases = std::env::var("SOE_BOT_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let seed = std::env::var("SOE_BOT_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x50E_B07);
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        // Failures are reported in the test output; no regression files beside the tests.
        failure_persistence: None,
        ..Config::default()
    }
}

fn fences(s: &str) -> usize {
    s.matches("```").count()
}

// ------------------------------------------------------------------ custom ids

fn handle() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,43}"
}

fn surface() -> impl Strategy<Value = Surface> {
    prop_oneof![
        Just(Surface::Card),
        Just(Surface::Shared),
        Just(Surface::Note)
    ]
}

fn vote() -> impl Strategy<Value = Vote> {
    prop_oneof![
        Just(Vote::Up),
        Just(Vote::Down),
        Just(Vote::UndoUp),
        Just(Vote::UndoDown)
    ]
}

fn any_id() -> impl Strategy<Value = Id> {
    let q = 1i64..=i64::MAX;
    let page = 0u32..1000;
    prop_oneof![
        (page.clone(), handle()).prop_map(|(page, search)| Id::SearchPage { page, search }),
        (page.clone(), handle()).prop_map(|(page, search)| Id::ShareSearch { page, search }),
        (page, handle()).prop_map(|(page, search)| Id::PickResult { page, search }),
        (q.clone(), surface()).prop_map(|(question, on)| Id::PickAnswer { question, on }),
        q.clone()
            .prop_map(|question| Id::QuestionInPlace { question }),
        q.clone().prop_map(|question| Id::OpenQuestion { question }),
        q.clone()
            .prop_map(|question| Id::ShareQuestion { question }),
        (q.clone(), vote(), surface()).prop_map(|(question, vote, on)| Id::VoteQuestion {
            question,
            vote,
            on
        }),
        (q.clone(), q.clone(), vote(), surface()).prop_map(|(question, answer, vote, on)| {
            Id::VoteAnswer {
                question,
                answer,
                vote,
                on,
            }
        }),
        (q.clone(), q.clone(), surface()).prop_map(|(question, answer, on)| Id::Accept {
            question,
            answer,
            on
        }),
        q.clone().prop_map(|question| Id::OpenAnswer { question }),
        handle().prop_map(|draft| Id::PostDraft { draft }),
        handle().prop_map(|draft| Id::AnnouncePost { draft }),
        handle().prop_map(|draft| Id::EditDraft { draft }),
        handle().prop_map(|draft| Id::DiscardDraft { draft }),
        Just(Id::Link),
        (handle(), proptest::option::of(any::<u64>()))
            .prop_map(|(draft, source)| Id::AskModal { draft, source }),
        (q, handle()).prop_map(|(question, draft)| Id::AnswerModal { question, draft }),
        handle().prop_map(|draft| Id::PostAsAnswerModal { draft }),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Every id the bot makes fits Discord's 100 characters and reads back as itself.
    #[test]
    fn custom_ids_round_trip_within_discords_limit(id in any_id()) {
        let encoded = id.encode();
        prop_assert!(encoded.chars().count() <= 100, "{encoded} is too long");
        prop_assert_eq!(ids::parse(&encoded), Some(id));
    }

    /// Any string (a forged or old button) parses to nothing or to an id that encodes to a
    /// string meaning the same thing: never a panic, never a different action.
    #[test]
    fn any_custom_id_parses_without_panic_and_canonically(
        s in prop_oneof![
            "\\PC{0,120}",
            "so:[a-z]{1,4}(:[0-9a-zA-Z_-]{0,25}){0,4}",
        ]
    ) {
        if let Some(id) = ids::parse(&s) {
            prop_assert_eq!(ids::parse(&id.encode()), Some(id));
        }
    }

    // -------------------------------------------------------------- question references

    /// A positive id is found in every form a member pastes it in.
    #[test]
    fn question_refs_are_read_from_numbers_and_links(
        n in 1i64..=i64::MAX,
        host in "[a-z]{1,12}\\.[a-z]{2,5}",
        slug in "[a-z0-9-]{0,40}",
        pad in "[ \t]{0,3}",
    ) {
        let forms = [
            format!("{pad}{n}{pad}"),
            format!("#{n}"),
            format!("https://{host}/questions/{n}/{slug}"),
            format!("https://{host}/questions/{n}"),
            format!("https://{host}/q/{n}"),
            format!("https://{host}/c/team/questions/{n}/{slug}?answertab=votes#a1"),
        ];
        for form in forms {
            prop_assert_eq!(parse_question_ref(&form), Some(n), "{}", form);
        }
    }

    /// Anything else is either refused or a positive id: never zero, never negative, never a
    /// panic.
    #[test]
    fn question_refs_never_yield_non_positive_ids(s in "\\PC{0,200}") {
        if let Some(n) = parse_question_ref(&s) {
            prop_assert!(n > 0);
        }
    }

    // -------------------------------------------------------------- entities and HTML

    /// Entities are decoded exactly once: an escaped string decodes back to itself.
    #[test]
    fn entity_decoding_undoes_one_escape(s in "\\PC{0,200}") {
        let escaped = s
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        prop_assert_eq!(decode_once(&escaped), s);
    }

    /// Arbitrary text, with or without markup, converts without panicking.
    #[test]
    fn html_to_discord_never_panics(s in "\\PC{0,400}") {
        let _ = html_to_discord(&s);
    }

    /// Bodies built from the tags SOE serves keep their words and their code fences
    /// balanced, whatever the nesting.
    #[test]
    fn html_bodies_keep_words_and_balanced_fences(
        blocks in proptest::collection::vec(html_block(), 1..8)
    ) {
        let html: String = blocks.iter().map(|(h, _)| h.as_str()).collect();
        let md = html_to_discord(&html);
        prop_assert_eq!(fences(&md) % 2, 0, "unbalanced fences in {:?} from {:?}", md, html);
        for (_, word) in &blocks {
            prop_assert!(md.contains(word.as_str()), "{:?} lost {:?} from {:?}", md, word, html);
        }
    }

    // -------------------------------------------------------------- truncation

    /// Truncation keeps to the limit, cuts on character boundaries (the result is a prefix of
    /// the text, then the marks it adds), and never leaves a code fence open that the cut
    /// opened.
    #[test]
    fn truncation_keeps_limits_characters_and_fences(
        s in prop_oneof![
            "\\PC{0,300}",
            "(```[a-z]{0,5}\n[^`]{0,40}\n```[ a-zé😀]{0,20}){0,6}",
            "([a-z😀é ]{0,10}`{1,4}){0,20}",
        ],
        max in 0usize..320,
    ) {
        let out = truncate(&s, max);
        prop_assert!(out.chars().count() <= max, "{} > {max}", out.chars().count());
        if s.chars().count() <= max {
            prop_assert_eq!(&out, &s);
        } else if max > 0 {
            let kept = out
                .strip_suffix("\n```…")
                .or_else(|| out.strip_suffix('…'))
                .unwrap_or(&out);
            prop_assert!(s.starts_with(kept), "{out:?} is not a cut of {s:?}");
            prop_assert_eq!(fences(&out) % 2, 0, "{:?} leaves a fence open", out);
        }
    }

    // -------------------------------------------------------------- modal validation

    /// What validation accepts always satisfies SOE's limits; it never panics on any input.
    #[test]
    fn validated_questions_satisfy_soe_limits(
        title in "\\PC{0,200}",
        body in "\\PC{0,120}",
        tags in "[a-zA-Z0-9#+. ,;-]{0,80}",
    ) {
        if let Ok(q) = validate::question(&title, &body, &tags) {
            let n = q.title.chars().count();
            prop_assert!((validate::TITLE_MIN..=validate::TITLE_MAX).contains(&n));
            prop_assert!(q.body.chars().count() >= validate::BODY_MIN);
            prop_assert!(!q.tags.is_empty() && q.tags.len() <= validate::TAGS_MAX);
        }
    }

    /// Accepted tags are few, short, lower-case, without spaces, and unique.
    #[test]
    fn validated_tags_are_well_formed(raw in "\\PC{0,120}") {
        if let Ok(tags) = validate::tags(&raw) {
            prop_assert!(tags.len() <= validate::TAGS_MAX);
            let mut seen = std::collections::HashSet::new();
            for t in &tags {
                prop_assert!(!t.is_empty() && t.chars().count() <= validate::TAG_LEN_MAX, "{t:?}");
                prop_assert!(!t.chars().any(char::is_whitespace), "{t:?}");
                prop_assert_eq!(t.to_lowercase(), t.clone());
                prop_assert!(seen.insert(t.clone()), "{t:?} twice");
            }
        }
    }

    // -------------------------------------------------------------- subscription options

    /// Durations read back as what was formatted, and any text parses without panicking.
    #[test]
    fn durations_round_trip(mins in 1u64..=43_200, junk in "\\PC{0,30}") {
        let secs = mins * 60;
        if let Ok(parsed) = parse_duration(&format_duration(secs)) {
            prop_assert_eq!(parsed, secs);
        }
        let _ = parse_duration(&junk);
    }

    /// Rule tags are lower-case, unique and without separators.
    #[test]
    fn rule_tags_are_normalised(raw in "\\PC{0,120}") {
        if let Ok(tags) = parse_tags("tags", &raw) {
            for t in &tags {
                prop_assert!(!t.is_empty());
                prop_assert!(!t.contains([',', ' ']), "{t:?}");
                prop_assert_eq!(t.to_lowercase(), t.clone());
            }
            let mut sorted = tags.clone();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), tags.len());
        }
    }

    // -------------------------------------------------------------- interaction JSON

    /// Whatever JSON arrives as an interaction (a recorded one with fields replaced by
    /// arbitrary values), reading it never panics.
    #[test]
    fn interaction_json_never_panics(
        path in proptest::sample::select(INTERACTION_PATHS),
        value in json_value(),
    ) {
        let mut doc: serde_json::Value = serde_json::from_str(INTERACTION).expect("fixture parses");
        if let Some(slot) = doc.pointer_mut(path) {
            *slot = value;
        }
        if let Ok(interaction) = serde_json::from_value::<serenity::all::Interaction>(doc) {
            let _ = soe_bot::discord::convert::invocation_from(&interaction);
        }
    }
}

/// A block of SOE-style HTML and a word it must keep.
fn html_block() -> impl Strategy<Value = (String, String)> {
    let word = "[a-z]{4,10}";
    prop_oneof![
        word.prop_map(|w| (format!("<p>{w}</p>"), w)),
        (word, "[a-z]{0,6}").prop_map(|(w, lang)| {
            (
                format!(
                    "<pre class=\"lang-{lang} s-code-block\"><code class=\"hljs language-{lang}\">let {w} = 1;\n</code></pre>"
                ),
                w,
            )
        }),
        word.prop_map(|w| (format!("<ul><li><code>{w}</code></li></ul>"), w)),
        word.prop_map(|w| (format!("<blockquote><p><strong>{w}</strong></p></blockquote>"), w)),
        word.prop_map(|w| (format!("<h5>{w}</h5>"), w)),
        word.prop_map(|w| (format!("<p><a href=\"https://example.com/{w}\">{w}</a></p>"), w)),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(|n| serde_json::Value::from(n.to_string())),
        "\\PC{0,40}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Fields of [`INTERACTION`] the test replaces.
const INTERACTION_PATHS: &[&str] = &[
    "/type",
    "/data",
    "/data/name",
    "/data/type",
    "/data/options",
    "/data/options/0",
    "/data/options/0/options",
    "/data/options/0/options/0/value",
    "/data/custom_id",
    "/data/components",
    "/data/resolved",
    "/member",
    "/member/user/id",
    "/member/permissions",
    "/user",
    "/guild_id",
    "/channel_id",
    "/channel",
    "/locale",
    "/message",
    "/app_permissions",
];

/// A `/so search` slash command as Discord sends it, with a resolved message for the paths
/// that need one.
const INTERACTION: &str = r#"{
  "id": "1250000000000000001",
  "application_id": "1250000000000000002",
  "type": 2,
  "token": "interaction-token-not-secret-in-tests",
  "version": 1,
  "guild_id": "1250000000000000003",
  "channel_id": "1250000000000000004",
  "channel": {"id": "1250000000000000004", "type": 0, "guild_id": "1250000000000000003", "name": "help"},
  "locale": "en-US",
  "guild_locale": "en-US",
  "app_permissions": "2147483648",
  "entitlements": [],
  "attachment_size_limit": 8388608,
  "authorizing_integration_owners": {"0": "1250000000000000003"},
  "context": 0,
  "member": {
    "user": {"id": "1250000000000000005", "username": "jane", "discriminator": "0", "global_name": "Jane", "avatar": null},
    "roles": [],
    "joined_at": "2026-01-01T00:00:00.000000+00:00",
    "deaf": false,
    "mute": false,
    "flags": 0,
    "permissions": "2147483648"
  },
  "data": {
    "id": "1250000000000000006",
    "name": "so",
    "type": 1,
    "options": [
      {"name": "search", "type": 1, "options": [{"name": "query", "type": 3, "value": "tokio runtime"}]}
    ]
  }
}"#;

/// The fixture the JSON property mutates is itself a valid `/so search` invocation, so the
/// property exercises the real reading path rather than failing at the first field.
#[test]
fn the_interaction_fixture_reads_as_a_search() {
    let interaction: serenity::all::Interaction =
        serde_json::from_str(INTERACTION).expect("fixture is an interaction");
    let inv = soe_bot::discord::convert::invocation_from(&interaction).expect("an invocation");
    assert_eq!(inv.member.id, 1_250_000_000_000_000_005);
    assert_eq!(inv.text("query").as_deref(), Some("tokio runtime"));
}
