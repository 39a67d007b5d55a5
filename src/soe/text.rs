//! SOE text: entity decoding on read, and HTML bodies as Discord Markdown.
//!
//! The vendor's API guide says reads return `title`, `body_markdown` (and other text)
//! HTML-encoded, and that writes are encoded again, so a read → edit → write round trip
//! double-encodes unless the client decodes after reading. Invariants:
//! - text is decoded **exactly once**, at parse time, by the `de_decoded*` helpers the model
//!   uses; never in a loop (text that legitimately contains `&amp;` must survive);
//! - writes send plain Markdown, never pre-encoded;
//! - HTML `body` is never entity-decoded as text: it is markup, converted by
//!   [`html_to_discord`], which keeps code-block languages and links.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use htmd::element_handler::Handlers;
use htmd::{Element, HtmlToMarkdown};
use serde::{Deserialize, Deserializer};

/// Decodes HTML entities once (`&amp;quot;` becomes `&quot;`, not `"`).
pub fn decode_once(s: &str) -> String {
    if s.contains('&') {
        html_escape::decode_html_entities(s).into_owned()
    } else {
        s.to_owned()
    }
}

/// serde helper: a string field decoded once; `null` becomes empty.
pub fn de_decoded<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.map(|s| decode_once(&s)).unwrap_or_default())
}

/// serde helper: an optional string field decoded once.
pub fn de_decoded_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    Ok(raw.map(|s| decode_once(&s)))
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
