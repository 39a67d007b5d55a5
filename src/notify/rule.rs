//! Subscription rules: what an admin asked to see in a channel, how the `/so-admin subscribe`
//! options parse into one, and whether an activity matches it.
//!
//! Grammar (the options of `/so-admin subscribe`):
//!
//! ```text
//! tags:             tag[, tag]…            1–10 tags of [a-z0-9+#.-]{1,35}, comma or space separated
//! match:            any | all              default any
//! exclude:          tag[, tag]…            0–10 tags; an item with any of them never matches
//! events:           kind[, kind]…          questions, answers, accepted, articles; default questions
//! unanswered-after: <n>m | <n>h | <n>d     questions are carded only once they have stayed
//!                                          without an answer that long (10m … 7d)
//! ```
//!
//! Invariants: tags are stored lower-cased, sorted and without duplicates, so matching never
//! depends on how an admin ordered them; [`Rule::matches`] is a pure function of the rule and
//! the activity (no clock, no I/O); a rule never matches activity from before it was created.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::soe::TeamSlug;

/// Most tags in `tags:` or `exclude:`.
pub const MAX_RULE_TAGS: usize = 10;
/// Shortest `unanswered-after`: below it the poll interval makes the figure meaningless.
pub const MIN_UNANSWERED_SECS: u64 = 10 * 60;
/// Longest `unanswered-after`: the poller watches unanswered questions this long at most.
pub const MAX_UNANSWERED_SECS: u64 = 7 * 24 * 3600;

/// A kind of site activity a rule can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new question (or, with `unanswered-after`, a question still unanswered after a while).
    Questions,
    /// A new answer to a question.
    Answers,
    /// An answer accepted by the asker.
    Accepted,
    /// A new knowledge article.
    Articles,
}

impl EventKind {
    /// The option word.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Questions => "questions",
            EventKind::Answers => "answers",
            EventKind::Accepted => "accepted",
            EventKind::Articles => "articles",
        }
    }
}

/// How the rule's tags combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// At least one of the tags.
    #[default]
    Any,
    /// Every one of the tags.
    All,
}

impl MatchMode {
    /// The option word.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::Any => "any",
            MatchMode::All => "all",
        }
    }
}

/// Why a rule could not deliver, and when that was last seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// A sentence for admins (never a token or URL with credentials).
    pub message: String,
    /// When it happened (the latest occurrence).
    pub at: DateTime<Utc>,
}

/// What a rule asks for, as parsed from the admin's options (no ids, no bookkeeping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// Lower-cased, sorted, unique; never empty.
    pub tags: Vec<String>,
    /// Any or all of `tags`.
    pub match_mode: MatchMode,
    /// Lower-cased, sorted, unique; an item with any of them never matches.
    pub exclude: Vec<String>,
    /// Sorted, unique; never empty.
    pub events: Vec<EventKind>,
    /// With `Questions`: card a question only once it has had no answer for this many seconds
    /// (instead of when it is posted).
    pub unanswered_after_secs: Option<u64>,
}

/// A stored subscription rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The guild it belongs to.
    pub guild: u64,
    /// Its number within the guild (1, 2, …; never reused), what admins type in
    /// `unsubscribe rule:`.
    pub id: u32,
    /// Where its cards go (a channel of `guild`).
    pub channel: u64,
    /// What it matches.
    pub spec: RuleSpec,
    /// The private team it reads (the channel's team binding when it was created), `None` for
    /// the main site. Decides which poll loop feeds it.
    pub team: Option<TeamSlug>,
    /// The admin who created it.
    pub created_by: u64,
    /// When: activity from before this never matches, so a new rule does not flood the
    /// channel with history.
    pub created_at: DateTime<Utc>,
    /// When it last produced a card (for `subscriptions`).
    pub last_post_at: Option<DateTime<Utc>>,
    /// The last delivery failure (channel gone, permission missing), cleared by a success.
    pub last_error: Option<RuleError>,
}

/// What happened on the site, as the matcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActivityKind {
    /// A question was posted.
    NewQuestion,
    /// A question has had no answer since it was posted, `age_secs` ago.
    Unanswered {
        /// Seconds since the question was posted.
        age_secs: u64,
    },
    /// An answer was posted.
    NewAnswer,
    /// An answer was accepted.
    Accepted,
    /// An article was posted (the card's `question_id` is the article's id).
    NewArticle,
}

/// One piece of activity to match: the question's tags, what happened and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity<'a> {
    /// What happened.
    pub kind: ActivityKind,
    /// The question's tags (any case, any order).
    pub tags: &'a [String],
    /// When it happened (posting time; for `Unanswered`, the question's posting time).
    pub at: DateTime<Utc>,
}

impl RuleSpec {
    /// Whether an activity with these tags and kind matches (ignores time).
    pub fn matches(&self, kind: ActivityKind, tags: &[String]) -> bool {
        let wants = |k: EventKind| self.events.contains(&k);
        let kind_ok = match kind {
            ActivityKind::NewQuestion => {
                wants(EventKind::Questions) && self.unanswered_after_secs.is_none()
            }
            ActivityKind::Unanswered { age_secs } => {
                wants(EventKind::Questions)
                    && self.unanswered_after_secs.is_some_and(|d| age_secs >= d)
            }
            ActivityKind::NewAnswer => wants(EventKind::Answers),
            ActivityKind::Accepted => wants(EventKind::Accepted),
            ActivityKind::NewArticle => wants(EventKind::Articles),
        };
        if !kind_ok {
            return false;
        }
        let has = |t: &str| tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        if self.exclude.iter().any(|t| has(t)) {
            return false;
        }
        match self.match_mode {
            MatchMode::Any => self.tags.iter().any(|t| has(t)),
            MatchMode::All => self.tags.iter().all(|t| has(t)),
        }
    }

    /// One line describing the rule, for `subscriptions` and confirmations.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} of `{}`",
            self.match_mode.as_str(),
            self.tags.join("`, `")
        );
        if !self.exclude.is_empty() {
            s.push_str(&format!(", not `{}`", self.exclude.join("`, `")));
        }
        let events: Vec<&str> = self.events.iter().map(|e| e.as_str()).collect();
        s.push_str(&format!("; {}", events.join(", ")));
        if let Some(d) = self.unanswered_after_secs {
            s.push_str(&format!(
                " (questions once unanswered for {})",
                format_duration(d)
            ));
        }
        s
    }
}

impl Rule {
    /// Whether `activity` should produce a card for this rule: the spec matches and it
    /// happened no earlier than the rule's creation.
    pub fn matches(&self, activity: &Activity<'_>) -> bool {
        activity.at >= self.created_at && self.spec.matches(activity.kind, activity.tags)
    }
}

/// The options of `/so-admin subscribe`, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOptions<'a> {
    /// `tags:` (required).
    pub tags: Option<&'a str>,
    /// `match:`.
    pub match_mode: Option<&'a str>,
    /// `exclude:`.
    pub exclude: Option<&'a str>,
    /// `events:`.
    pub events: Option<&'a str>,
    /// `unanswered-after:`.
    pub unanswered_after: Option<&'a str>,
}

/// Parses the options into a spec, or says (in one sentence an admin can act on) what is
/// wrong.
pub fn parse_spec(o: &SubscribeOptions<'_>) -> Result<RuleSpec, String> {
    let tags = parse_tags("tags", o.tags.unwrap_or(""))?;
    if tags.is_empty() {
        return Err("Give at least one tag, e.g. `tags:rust, tokio`.".into());
    }
    let exclude = parse_tags("exclude", o.exclude.unwrap_or(""))?;
    if let Some(t) = tags.iter().find(|t| exclude.contains(t)) {
        return Err(format!(
            "`{t}` is both in `tags` and in `exclude`; keep it in one of them."
        ));
    }
    let match_mode = match o
        .match_mode
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("any") => MatchMode::Any,
        Some("all") => MatchMode::All,
        Some(other) => {
            return Err(format!(
                "`match:{}` is not an option: use `any` (at least one tag) or `all` (every tag).",
                clip(other)
            ))
        }
    };
    let events = parse_events(o.events.unwrap_or(""))?;
    let unanswered_after_secs = match o.unanswered_after.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => {
            let secs = parse_duration(raw)?;
            if !events.contains(&EventKind::Questions) {
                return Err("`unanswered-after` is about questions: add `questions` to `events`, or leave `unanswered-after` out.".into());
            }
            Some(secs)
        }
    };
    Ok(RuleSpec {
        tags,
        match_mode,
        exclude,
        events,
        unanswered_after_secs,
    })
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

fn valid_tag(t: &str) -> bool {
    (1..=35).contains(&t.len())
        && t.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '#' | '.' | '-')
        })
}

/// Tags separated by commas and/or spaces, lower-cased, sorted, unique.
pub fn parse_tags(option: &str, raw: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
    {
        if !valid_tag(&t) {
            return Err(format!(
                "`{}` in `{option}` is not a tag name: tags are 1–35 characters of a–z, 0–9 and + # . -",
                clip(&t)
            ));
        }
        out.push(t);
    }
    out.sort();
    out.dedup();
    if out.len() > MAX_RULE_TAGS {
        return Err(format!(
            "`{option}` has {} tags; a rule takes at most {MAX_RULE_TAGS}. Split it into two rules.",
            out.len()
        ));
    }
    Ok(out)
}

fn parse_events(raw: &str) -> Result<Vec<EventKind>, String> {
    let mut out = Vec::new();
    for w in raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|w| w.trim().to_ascii_lowercase())
        .filter(|w| !w.is_empty())
    {
        out.push(match w.as_str() {
            "questions" | "question" => EventKind::Questions,
            "answers" | "answer" => EventKind::Answers,
            "accepted" | "accepts" | "accept" => EventKind::Accepted,
            "articles" | "article" => EventKind::Articles,
            other => {
                return Err(format!(
                    "`{}` in `events` is not an event: use `questions`, `answers`, `accepted` and/or `articles`, separated by commas.",
                    clip(other)
                ))
            }
        });
    }
    if out.is_empty() {
        out.push(EventKind::Questions);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `30m`, `4h`, `2d` (also `90min`, `1 day`…) into seconds, within
/// [`MIN_UNANSWERED_SECS`]..=[`MAX_UNANSWERED_SECS`].
pub fn parse_duration(raw: &str) -> Result<u64, String> {
    let s = raw.trim().to_ascii_lowercase();
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = s[digits.len()..].trim();
    let bad = || {
        format!(
            "`{}` is not a duration: write minutes, hours or days, e.g. `30m`, `4h` or `2d`.",
            clip(raw)
        )
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let per = match unit {
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(bad()),
    };
    let secs = n.checked_mul(per).ok_or_else(bad)?;
    if !(MIN_UNANSWERED_SECS..=MAX_UNANSWERED_SECS).contains(&secs) {
        return Err(format!(
            "`unanswered-after` must be between {} and {}.",
            format_duration(MIN_UNANSWERED_SECS),
            format_duration(MAX_UNANSWERED_SECS)
        ));
    }
    Ok(secs)
}

/// Seconds as the largest whole unit: `45m`, `4h`, `2d`, or `1h 30m`.
pub fn format_duration(secs: u64) -> String {
    if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs >= 3600 {
        format!("{}h {}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}m", secs / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
    }

    fn spec(tags: &str, mode: &str, exclude: &str, events: &str, after: &str) -> RuleSpec {
        parse_spec(&SubscribeOptions {
            tags: Some(tags),
            match_mode: Some(mode),
            exclude: Some(exclude),
            events: Some(events),
            unanswered_after: Some(after),
        })
        .unwrap()
    }

    fn tags(s: &[&str]) -> Vec<String> {
        s.iter().map(|t| t.to_string()).collect()
    }

    fn rule(spec: RuleSpec) -> Rule {
        Rule {
            guild: 1,
            id: 1,
            channel: 2,
            spec,
            team: None,
            created_by: 3,
            created_at: t0(),
            last_post_at: None,
            last_error: None,
        }
    }

    #[test]
    fn any_matches_one_tag_all_needs_every_tag() {
        let any = spec("rust, tokio", "any", "", "", "");
        assert!(any.matches(ActivityKind::NewQuestion, &tags(&["tokio"])));
        assert!(!any.matches(ActivityKind::NewQuestion, &tags(&["go"])));
        let all = spec("rust tokio", "all", "", "", "");
        assert!(!all.matches(ActivityKind::NewQuestion, &tags(&["tokio"])));
        assert!(all.matches(ActivityKind::NewQuestion, &tags(&["Tokio", "go", "RUST"])));
    }

    #[test]
    fn exclude_wins_over_tags() {
        let s = spec("rust", "any", "wasm", "", "");
        assert!(s.matches(ActivityKind::NewQuestion, &tags(&["rust"])));
        assert!(!s.matches(ActivityKind::NewQuestion, &tags(&["rust", "wasm"])));
    }

    #[test]
    fn events_choose_the_kinds() {
        let q = spec("rust", "", "", "", "");
        assert_eq!(q.events, vec![EventKind::Questions], "questions by default");
        assert!(q.matches(ActivityKind::NewQuestion, &tags(&["rust"])));
        assert!(!q.matches(ActivityKind::NewAnswer, &tags(&["rust"])));
        assert!(!q.matches(ActivityKind::Accepted, &tags(&["rust"])));
        let a = spec("rust", "", "", "answers,accepted", "");
        assert!(!a.matches(ActivityKind::NewQuestion, &tags(&["rust"])));
        assert!(a.matches(ActivityKind::NewAnswer, &tags(&["rust"])));
        assert!(a.matches(ActivityKind::Accepted, &tags(&["rust"])));
    }

    #[test]
    fn unanswered_after_replaces_the_new_question_card() {
        let s = spec("rust", "", "", "questions", "2h");
        assert_eq!(s.unanswered_after_secs, Some(7200));
        assert!(!s.matches(ActivityKind::NewQuestion, &tags(&["rust"])));
        let young = ActivityKind::Unanswered { age_secs: 7199 };
        let old = ActivityKind::Unanswered { age_secs: 7200 };
        assert!(!s.matches(young, &tags(&["rust"])));
        assert!(s.matches(old, &tags(&["rust"])));
        // A rule without it ignores the unanswered signal.
        let plain = spec("rust", "", "", "", "");
        assert!(!plain.matches(old, &tags(&["rust"])));
    }

    #[test]
    fn a_rule_ignores_activity_from_before_it_existed() {
        let r = rule(spec("rust", "", "", "", ""));
        let t = tags(&["rust"]);
        let before = Activity {
            kind: ActivityKind::NewQuestion,
            tags: &t,
            at: t0() - chrono::Duration::seconds(1),
        };
        assert!(!r.matches(&before));
        assert!(r.matches(&Activity { at: t0(), ..before }));
    }

    #[test]
    fn bad_options_say_what_to_do() {
        let err = |o: SubscribeOptions<'_>| parse_spec(&o).unwrap_err();
        assert!(err(SubscribeOptions::default()).contains("at least one tag"));
        let o = |tags, m, ex, ev, ua| SubscribeOptions {
            tags: Some(tags),
            match_mode: Some(m),
            exclude: Some(ex),
            events: Some(ev),
            unanswered_after: Some(ua),
        };
        assert!(err(o("Rust!", "", "", "", "")).contains("not a tag name"));
        assert!(err(o("rust", "most", "", "", "")).contains("`any`"));
        assert!(err(o("rust", "", "rust", "", "")).contains("both"));
        assert!(err(o("rust", "", "", "comments", "")).contains("not an event"));
        let articles = parse_spec(&o("rust", "", "", "articles, questions", "")).unwrap();
        assert_eq!(
            articles.events,
            vec![EventKind::Questions, EventKind::Articles]
        );
        assert!(articles.matches(ActivityKind::NewArticle, &tags(&["rust"])));
        assert!(!spec("rust", "", "", "questions", "")
            .matches(ActivityKind::NewArticle, &tags(&["rust"])));
        assert!(err(o("rust", "", "", "", "soon")).contains("not a duration"));
        assert!(err(o("rust", "", "", "", "1m")).contains("between 10m and 7d"));
        assert!(err(o("rust", "", "", "", "30d")).contains("between"));
        assert!(err(o("rust", "", "", "answers", "2h")).contains("add `questions`"));
        let many = "a b c d e f g h i j k";
        assert!(err(o(many, "", "", "", "")).contains("at most 10"));
    }

    #[test]
    fn tags_are_normalised() {
        let s = spec(
            " Tokio,rust  rust ",
            "ALL",
            "",
            "Accepted, questions",
            "90m",
        );
        assert_eq!(s.tags, vec!["rust", "tokio"]);
        assert_eq!(s.match_mode, MatchMode::All);
        assert_eq!(s.events, vec![EventKind::Questions, EventKind::Accepted]);
        assert_eq!(s.unanswered_after_secs, Some(5400));
        assert_eq!(format_duration(5400), "1h 30m");
        assert_eq!(
            s.describe(),
            "all of `rust`, `tokio`; questions, accepted (questions once unanswered for 1h 30m)"
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const POOL: &[&str] = &["rust", "go", "c#", "tokio", "serde", "wasm", "sql"];

        fn tag_set() -> impl Strategy<Value = Vec<String>> {
            proptest::sample::subsequence(POOL, 0..=POOL.len())
                .prop_map(|v| v.iter().map(|s| s.to_string()).collect())
        }

        fn kind() -> impl Strategy<Value = ActivityKind> {
            prop_oneof![
                Just(ActivityKind::NewQuestion),
                Just(ActivityKind::NewAnswer),
                Just(ActivityKind::Accepted),
                (0u64..20_000).prop_map(|age_secs| ActivityKind::Unanswered { age_secs }),
            ]
        }

        fn any_spec() -> impl Strategy<Value = RuleSpec> {
            (
                tag_set().prop_filter("non-empty", |t| !t.is_empty()),
                tag_set(),
                any::<bool>(),
                proptest::sample::subsequence(&["questions", "answers", "accepted"][..], 1..=3),
                proptest::option::of(600u64..14_400),
            )
                .prop_map(|(tags, exclude, all, events, after)| {
                    let exclude: Vec<String> =
                        exclude.into_iter().filter(|t| !tags.contains(t)).collect();
                    let events = events.join(",");
                    let after = match after {
                        Some(s) if events.contains("questions") => format!("{}m", s / 60),
                        _ => String::new(),
                    };
                    parse_spec(&SubscribeOptions {
                        tags: Some(&tags.join(",")),
                        match_mode: Some(if all { "all" } else { "any" }),
                        exclude: Some(&exclude.join(" ")),
                        events: Some(&events),
                        unanswered_after: Some(&after),
                    })
                    .unwrap()
                })
        }

        proptest! {
            /// Shuffling the activity's tags, the options' tags, or the order rules are
            /// checked in never changes which rules match.
            #[test]
            fn matching_ignores_tag_and_rule_order(
                specs in proptest::collection::vec(any_spec(), 1..6),
                item in tag_set(),
                k in kind(),
                seed in any::<u64>(),
            ) {
                use rand::seq::SliceRandom;
                use rand::SeedableRng;
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let matched = |specs: &[RuleSpec], item: &[String]| -> Vec<RuleSpec> {
                    let mut m: Vec<RuleSpec> =
                        specs.iter().filter(|s| s.matches(k, item)).cloned().collect();
                    m.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
                    m
                };
                let before = matched(&specs, &item);

                let mut item2 = item.clone();
                item2.shuffle(&mut rng);
                let mut specs2: Vec<RuleSpec> = specs
                    .iter()
                    .map(|s| {
                        // Re-parse from shuffled option text: the stored form is canonical.
                        let mut t = s.tags.clone();
                        t.shuffle(&mut rng);
                        let mut e = s.exclude.clone();
                        e.shuffle(&mut rng);
                        let mut ev: Vec<&str> = s.events.iter().map(|e| e.as_str()).collect();
                        ev.shuffle(&mut rng);
                        let after = s.unanswered_after_secs.map(|d| format!("{}m", d / 60)).unwrap_or_default();
                        parse_spec(&SubscribeOptions {
                            tags: Some(&t.join(" , ")),
                            match_mode: Some(s.match_mode.as_str()),
                            exclude: Some(&e.join(",")),
                            events: Some(&ev.join(",")),
                            unanswered_after: Some(&after),
                        })
                        .unwrap()
                    })
                    .collect();
                prop_assert_eq!(&specs2.iter().map(|s| s.tags.clone()).collect::<Vec<_>>(),
                    &specs.iter().map(|s| s.tags.clone()).collect::<Vec<_>>());
                specs2.shuffle(&mut rng);
                prop_assert_eq!(before, matched(&specs2, &item2));
            }
        }
    }
}
