//! SOE text: entity decoding on read, and HTML bodies as Discord Markdown.
//!
//! Which fields arrive HTML-encoded, and on whose word:
//! - **by the vendor's guide** ("Stack Overflow for Teams Enterprise API v3"): `body` and
//!   `body_markdown` are HTML-encoded on read and on write, so a read → edit → write round trip
//!   double-encodes unless the client decodes after reading. For questions and answers `body`
//!   is HTML markup (never decoded as text, see below), so the guide's rule lands on
//!   `bodyMarkdown` ([`EncodedField::BodyMarkdown`]) and on a comment's Markdown `body`
//!   ([`EncodedField::CommentBody`]);
//! - **by assumption** (the Stack Exchange API 2.x escapes every string, and community clients
//!   of the 2.3 Teams API unescape titles and names; nothing says v3 does the same):
//!   `title` ([`EncodedField::Title`]), search `snippet` ([`EncodedField::Snippet`]), people's
//!   display names ([`EncodedField::DisplayName`]) and tag descriptions
//!   ([`EncodedField::TagDescription`]).
//!
//! A client cannot tell an encoded `&amp;` from a literal one, so the set is a setting
//! (`soe.encoded_fields`, default: all of them) rather than a guess: a site that leaves titles
//! alone is configured without `title`, and a title that really contains `&amp;` survives.
//! Invariants:
//! - text is decoded **exactly once**, after parsing, by [`DecodeText`] with the configured
//!   [`EncodedFields`]; never in a loop (text that legitimately contains `&amp;` must survive);
//! - writes send plain Markdown, never pre-encoded;
//! - HTML `body` is never entity-decoded as text: it is markup, converted by
//!   [`html_to_discord`], which keeps code-block languages and links.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use htmd::element_handler::Handlers;
use htmd::{Element, HtmlToMarkdown};
use serde::{Deserialize, Deserializer};

/// A text field the site may serve HTML-encoded (see the module docs for who says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EncodedField {
    /// `bodyMarkdown` of questions and answers (the vendor's guide).
    BodyMarkdown,
    /// A comment's Markdown `body` (the vendor's guide names `body`).
    CommentBody,
    /// Question titles, also in search results (assumption).
    Title,
    /// Search result `snippet`s (assumption).
    Snippet,
    /// `name` of users, `ownerDisplayName` of comments (assumption).
    DisplayName,
    /// Tag `description`s (assumption).
    TagDescription,
}

impl EncodedField {
    /// Every field, in a fixed order.
    pub const ALL: [EncodedField; 6] = [
        EncodedField::BodyMarkdown,
        EncodedField::CommentBody,
        EncodedField::Title,
        EncodedField::Snippet,
        EncodedField::DisplayName,
        EncodedField::TagDescription,
    ];

    /// The name used in `soe.encoded_fields`.
    pub fn name(self) -> &'static str {
        match self {
            EncodedField::BodyMarkdown => "body_markdown",
            EncodedField::CommentBody => "comment_body",
            EncodedField::Title => "title",
            EncodedField::Snippet => "snippet",
            EncodedField::DisplayName => "display_name",
            EncodedField::TagDescription => "tag_description",
        }
    }

    /// The field named `name` (as in `soe.encoded_fields`).
    pub fn from_name(name: &str) -> Option<EncodedField> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of [`EncodedField`]s: which fields a site encodes (the fake) or the client decodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodedFields(u8);

impl EncodedFields {
    /// Every field: the guide's and the assumed ones (the default).
    pub fn all() -> Self {
        Self::of(&EncodedField::ALL)
    }

    /// No field: a site that serves text as it was written.
    pub fn none() -> Self {
        Self(0)
    }

    /// Only what the vendor's guide names: `bodyMarkdown` and comment bodies.
    pub fn guide_only() -> Self {
        Self::of(&[EncodedField::BodyMarkdown, EncodedField::CommentBody])
    }

    /// Exactly `fields`.
    pub fn of(fields: &[EncodedField]) -> Self {
        Self(fields.iter().fold(0, |acc, f| acc | f.bit()))
    }

    /// The set without `field`.
    pub fn without(self, field: EncodedField) -> Self {
        Self(self.0 & !field.bit())
    }

    /// Whether `field` is in the set.
    pub fn contains(self, field: EncodedField) -> bool {
        self.0 & field.bit() != 0
    }

    /// The fields, in [`EncodedField::ALL`] order.
    pub fn fields(self) -> Vec<EncodedField> {
        EncodedField::ALL
            .into_iter()
            .filter(|f| self.contains(*f))
            .collect()
    }

    /// Parses `soe.encoded_fields`; an unknown name is an error naming the known ones.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut fields = Vec::new();
        for n in names {
            match EncodedField::from_name(n.as_ref()) {
                Some(f) => fields.push(f),
                None => {
                    return Err(format!(
                        "`{}` is not a text field; use any of {}",
                        n.as_ref(),
                        EncodedField::ALL.map(EncodedField::name).join(", ")
                    ))
                }
            }
        }
        Ok(Self::of(&fields))
    }

    /// Decodes `s` in place, once, if `field` is in the set.
    pub fn decode(self, field: EncodedField, s: &mut String) {
        if self.contains(field) && s.contains('&') {
            *s = decode_once(s);
        }
    }

    /// [`EncodedFields::decode`] for an optional field.
    pub fn decode_opt(self, field: EncodedField, s: &mut Option<String>) {
        if let Some(s) = s {
            self.decode(field, s);
        }
    }
}

impl Default for EncodedFields {
    fn default() -> Self {
        Self::all()
    }
}

impl std::fmt::Debug for EncodedFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.fields().into_iter().map(EncodedField::name))
            .finish()
    }
}

/// A parsed API value whose encoded text fields can be decoded once, after parsing. The HTTP
/// client calls it on every response with the configured [`EncodedFields`].
pub trait DecodeText {
    /// Decodes the fields in `fields`, once.
    fn decode_text(&mut self, fields: EncodedFields);
}

impl<T: DecodeText> DecodeText for Vec<T> {
    fn decode_text(&mut self, fields: EncodedFields) {
        self.iter_mut().for_each(|t| t.decode_text(fields));
    }
}

impl<T: DecodeText> DecodeText for Option<T> {
    fn decode_text(&mut self, fields: EncodedFields) {
        if let Some(t) = self {
            t.decode_text(fields);
        }
    }
}

/// Decodes HTML entities once (`&amp;quot;` becomes `&quot;`, not `"`).
pub fn decode_once(s: &str) -> String {
    if s.contains('&') {
        html_escape::decode_html_entities(s).into_owned()
    } else {
        s.to_owned()
    }
}

/// serde helper: a string field where `null` becomes empty (text stays as served; decoding
/// is [`DecodeText`]'s job).
pub fn de_string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// serde helper: a date that never fails the surrounding parse. Unparseable or non-string
/// values become `None`.
pub fn de_lenient_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let raw = serde_json::Value::deserialize(d)?;
    Ok(match raw {
        serde_json::Value::String(s) => parse_date_lenient(&s),
        serde_json::Value::Number(n) => n.as_i64().and_then(|s| DateTime::from_timestamp(s, 0)),
        _ => None,
    })
}

/// Parses the date forms SOE is known to emit: RFC 3339 with or without offset or fraction,
/// single-digit hours (the official document's own example is `2022-10-12T7:16:48.462Z`), and
/// bare dates. Anything else is `None`.
pub fn parse_date_lenient(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    let naive = s.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(dt.and_utc());
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc())
}

/// Converts an SOE HTML body to Markdown that Discord renders: fenced code blocks keep their
/// language (`language-xxx` / `lang-xxx` classes), links stay links, images become links
/// (Discord does not inline them), headings deeper than `###` become bold lines.
pub fn html_to_discord(html: &str) -> String {
    let converter = HtmlToMarkdown::builder()
        .add_handler(vec!["img"], img_as_link)
        .add_handler(
            vec!["script", "style", "head"],
            |_: &dyn Handlers, _: Element| None,
        )
        .build();
    let html = normalize_code_classes(html);
    let md = match converter.convert(&html) {
        Ok(md) => md,
        Err(_) => strip_tags(&html),
    };
    md.lines()
        .map(|line| {
            let hashes = line.chars().take_while(|c| *c == '#').count();
            if hashes > 3 && line[hashes..].starts_with(' ') {
                format!("**{}**", line[hashes..].trim())
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// SOE marks code blocks as `<pre class="lang-rust s-code-block"><code class="hljs
/// language-rust">`; some older posts only have `lang-xxx` on the `pre`. htmd reads
/// `language-xxx`, so rewrite `lang-` to `language-` where that is all there is.
fn normalize_code_classes(html: &str) -> String {
    if html.contains("class=\"lang-") && !html.contains("language-") {
        html.replace("class=\"lang-", "class=\"language-")
    } else {
        html.to_string()
    }
}

fn img_as_link(_: &dyn Handlers, element: Element) -> Option<htmd::element_handler::HandlerResult> {
    let attr = |name: &str| {
        element
            .attrs
            .iter()
            .find(|a| &*a.name.local == name)
            .map(|a| a.value.to_string())
    };
    let src = attr("src")?;
    let alt = attr("alt")
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "image".into());
    Some(
        format!(
            "[{}]({})",
            alt.replace(['[', ']'], ""),
            src.replace(' ', "%20")
        )
        .into(),
    )
}

/// Last resort when the HTML parser fails: drop tags, decode entities once.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    decode_once(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_exactly_once() {
        assert_eq!(
            decode_once("Tom &amp; Jerry&#39;s &quot;cat&quot;"),
            "Tom & Jerry's \"cat\""
        );
        assert_eq!(decode_once("a &amp;amp; b"), "a &amp; b");
        assert_eq!(decode_once("no entities"), "no entities");
    }

    #[test]
    fn field_sets_parse_and_decode_only_their_fields() {
        let set = EncodedFields::from_names(&["body_markdown", "Comment_Body"]).unwrap();
        assert_eq!(set, EncodedFields::guide_only());
        assert!(EncodedFields::from_names(&["titles"])
            .unwrap_err()
            .contains("title, snippet"));
        let mut title = "Tom &amp; Jerry".to_string();
        set.decode(EncodedField::Title, &mut title);
        assert_eq!(title, "Tom &amp; Jerry", "not in the set: left alone");
        let mut md = Some("a &amp;amp; b".to_string());
        set.decode_opt(EncodedField::BodyMarkdown, &mut md);
        assert_eq!(md.as_deref(), Some("a &amp; b"), "in the set: decoded once");
        assert_eq!(EncodedFields::all().fields().len(), 6);
        assert_eq!(
            EncodedFields::all().without(EncodedField::Title),
            EncodedFields::from_names(&[
                "body_markdown",
                "comment_body",
                "snippet",
                "display_name",
                "tag_description"
            ])
            .unwrap()
        );
        assert_eq!(
            format!("{:?}", EncodedFields::guide_only()),
            r#"["body_markdown", "comment_body"]"#
        );
    }

    #[test]
    fn lenient_dates() {
        assert!(parse_date_lenient("2018-04-08T10:30:21.254Z").is_some());
        assert!(parse_date_lenient("2022-10-12T7:16:48.462Z").is_some());
        assert!(parse_date_lenient("2022-10-12T07:16:48").is_some());
        assert!(parse_date_lenient("2022-10-12").is_some());
        assert!(parse_date_lenient("yesterday").is_none());
    }

    #[test]
    fn code_blocks_keep_language_and_links_stay_links() {
        let html = r#"<p>Use <a href="https://tokio.rs">tokio</a> &amp; friends:</p>
<pre class="lang-rust s-code-block"><code class="hljs language-rust">let x = a &lt; b &amp;&amp; c;
</code></pre>"#;
        let md = html_to_discord(html);
        assert!(md.contains("[tokio](https://tokio.rs)"), "{md}");
        assert!(md.contains("```rust\nlet x = a < b && c;"), "{md}");
        assert!(md.contains("& friends"), "{md}");
    }

    #[test]
    fn lang_only_on_pre_is_kept() {
        let md = html_to_discord(r#"<pre class="lang-py"><code>print(1)</code></pre>"#);
        assert!(md.starts_with("```py"), "{md}");
    }

    #[test]
    fn images_become_links_and_deep_headings_bold() {
        let md =
            html_to_discord(r#"<h4>Details</h4><p><img src="https://x/y.png" alt="diagram"></p>"#);
        assert!(md.contains("**Details**"), "{md}");
        assert!(md.contains("[diagram](https://x/y.png)"), "{md}");
        assert!(!md.contains("!["), "{md}");
    }
}
