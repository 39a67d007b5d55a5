//! Checks a draft before any network call, with the site's limits, counting characters.
//!
//! Title 15–150 characters, body 30–30,000, 1–5 tags of `[a-z0-9+#.-]{1,35}` (lower-cased,
//! de-duplicated, separated by commas or spaces). Every problem is reported per field, all at
//! once, with what to do.

/// Title length bounds (characters, after trimming).
pub const TITLE_MIN: usize = 15;
/// Upper title bound.
pub const TITLE_MAX: usize = 150;
/// Body length bounds.
pub const BODY_MIN: usize = 30;
/// Upper body bound (the site's; a Discord modal field holds 4,000).
pub const BODY_MAX: usize = 30_000;
/// Tags per question.
pub const TAGS_MAX: usize = 5;
/// Characters per tag.
pub const TAG_LEN_MAX: usize = 35;

/// One field's problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `title`, `body` or `tags`.
    pub field: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

/// Normalises a text field: trims, turns CRLF into LF.
pub fn clean(text: &str) -> String {
    text.replace("\r\n", "\n").trim().to_string()
}

/// Checks a title.
pub fn title(raw: &str) -> Result<String, Problem> {
    let t = clean(raw).split_whitespace().collect::<Vec<_>>().join(" ");
    let n = t.chars().count();
    if n < TITLE_MIN {
        return Err(Problem {
            field: "title",
            message: format!("is {n} characters; it needs at least {TITLE_MIN}. Say what you are trying to do and what goes wrong."),
        });
    }
    if n > TITLE_MAX {
        return Err(Problem {
            field: "title",
            message: format!(
                "is {n} characters; the limit is {TITLE_MAX}. Move details into the body."
            ),
        });
    }
    Ok(t)
}

/// Checks a body (questions and answers).
pub fn body(raw: &str) -> Result<String, Problem> {
    let b = clean(raw);
    let n = b.chars().count();
    if n < BODY_MIN {
        return Err(Problem {
            field: "body",
            message: format!("is {n} characters; it needs at least {BODY_MIN}. Add what you tried and what happened."),
        });
    }
    if n > BODY_MAX {
        return Err(Problem {
            field: "body",
            message: format!("is {n} characters; the limit is {BODY_MAX}."),
        });
    }
    Ok(b)
}

/// Checks and normalises tags.
pub fn tags(raw: &str) -> Result<Vec<String>, Problem> {
    let mut out: Vec<String> = Vec::new();
    let mut bad = Vec::new();
    for t in raw
        .split([',', ' ', '\n', '\t'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let t = t.to_lowercase();
        let ok = t.chars().count() <= TAG_LEN_MAX
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+#.-".contains(c));
        if !ok {
            bad.push(t);
        } else if !out.contains(&t) {
            out.push(t);
        }
    }
    if !bad.is_empty() {
        return Err(Problem {
            field: "tags",
            message: format!(
                "{} not valid: tags use a-z, 0-9 and + # . - only, at most {TAG_LEN_MAX} characters each.",
                bad.iter().map(|b| format!("`{}`", super::reply::truncate(b, 40))).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    if out.is_empty() {
        return Err(Problem {
            field: "tags",
            message: "are missing: add at least one tag, e.g. `rust, async`.".into(),
        });
    }
    if out.len() > TAGS_MAX {
        return Err(Problem {
            field: "tags",
            message: format!(
                "are {}; the limit is {TAGS_MAX}. Keep the most specific ones.",
                out.len()
            ),
        });
    }
    Ok(out)
}

/// A validated question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidQuestion {
    /// Title.
    pub title: String,
    /// Body (Markdown).
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// Checks all three fields, reporting every problem.
pub fn question(
    title_raw: &str,
    body_raw: &str,
    tags_raw: &str,
) -> Result<ValidQuestion, Vec<Problem>> {
    let (t, b, g) = (title(title_raw), body(body_raw), tags(tags_raw));
    match (t, b, g) {
        (Ok(title), Ok(body), Ok(tags)) => Ok(ValidQuestion { title, body, tags }),
        (t, b, g) => Err([t.err(), b.err(), g.err()].into_iter().flatten().collect()),
    }
}

/// "Title is 14 characters; …" lines for a reply.
pub fn describe(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            let mut f = p.field.to_string();
            if let Some(c) = f.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            format!("• **{f}** {}", p.message)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_boundaries_count_characters() {
        assert!(title(&"a".repeat(14)).is_err());
        assert!(title(&"a".repeat(15)).is_ok());
        assert!(title(&"a".repeat(150)).is_ok());
        assert!(title(&"a".repeat(151)).is_err());
        assert!(title(&" ".repeat(20)).is_err());
        assert!(title(&"é".repeat(15)).is_ok(), "15 two-byte characters");
        assert!(title(&"🦀".repeat(15)).is_ok(), "15 four-byte characters");
        assert!(title(&"🦀".repeat(14)).is_err());
    }

    #[test]
    fn body_boundaries() {
        assert!(body(&"b".repeat(29)).is_err());
        assert!(body(&"b".repeat(30)).is_ok());
        assert!(body(&"b".repeat(30_000)).is_ok());
        assert!(body(&"b".repeat(30_001)).is_err());
    }

    #[test]
    fn tags_rules() {
        assert_eq!(tags("C#, Rust rust").unwrap(), ["c#", "rust"]);
        assert!(tags("").is_err());
        assert!(tags("a,b,c,d,e").is_ok());
        assert_eq!(tags("a,b,c,d,e,f").unwrap_err().field, "tags");
        assert!(tags("a_b").unwrap_err().message.contains("`a_b`"));
        assert!(tags(&"x".repeat(36)).is_err());
        assert!(tags(&"x".repeat(35)).is_ok());
        assert!(tags("naïve").is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let p = question("short", "tiny", "bad_tag").unwrap_err();
        assert_eq!(
            p.iter().map(|p| p.field).collect::<Vec<_>>(),
            ["title", "body", "tags"]
        );
    }

    proptest::proptest! {
        #[test]
        fn accepted_drafts_satisfy_every_limit(t in "\\PC{0,200}", b in "\\PC{0,100}", g in "\\PC{0,60}") {
            if let Ok(q) = question(&t, &b, &g) {
                let n = q.title.chars().count();
                proptest::prop_assert!((TITLE_MIN..=TITLE_MAX).contains(&n));
                proptest::prop_assert!(q.body.chars().count() >= BODY_MIN);
                proptest::prop_assert!(!q.tags.is_empty() && q.tags.len() <= TAGS_MAX);
            }
        }
    }
}
