//! The few HTML pages the bot serves to browsers during linking.
//!
//! Self-contained (inline CSS, no scripts, no third-party resources, no external links except
//! the member's own SOE profile), every dynamic value HTML-escaped, nothing echoed from the
//! query string.

use html_escape::encode_text as esc;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222;line-height:1.5}\
h1{font-size:1.4rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}\
button{font-size:1rem;padding:.5rem 1.1rem;margin-right:.5rem;border-radius:6px;border:1px solid #888;cursor:pointer}\
button.primary{background:#f48024;border-color:#d06a16;color:#fff}.muted{color:#666;font-size:.9rem}";

/// A complete page.
pub fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\"><title>{}</title><style>{STYLE}</style></head>\
<body>{body_html}</body></html>",
        esc(title)
    )
}

/// A page with a heading and a paragraph of plain text.
pub fn message(title: &str, text: &str) -> String {
    page(
        title,
        &format!("<h1>{}</h1><p>{}</p>", esc(title), esc(text)),
    )
}

/// The confirmation page naming both accounts. `form_token` goes into a hidden field only.
pub fn confirm(
    discord_name: &str,
    soe_user_name: &str,
    soe_user_url: Option<&str>,
    scopes: &[String],
    expires: Option<&str>,
    form_token: &str,
) -> String {
    let soe_user =
        match soe_user_url.filter(|u| u.starts_with("https://") || u.starts_with("http://")) {
            Some(url) => format!(
                "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                html_escape::encode_double_quoted_attribute(url),
                esc(soe_user_name)
            ),
            None => format!("<strong>{}</strong>", esc(soe_user_name)),
        };
    let can_write = scopes.iter().any(|s| s == "write_access");
    let expiry = match expires {
        Some(e) => format!(
            "The token expires {}; the bot will ask you to link again then.",
            esc(e)
        ),
        None => "The token does not expire; unlink any time with /so unlink.".into(),
    };
    let body = format!(
        "<h1>Link your Stack Overflow account?</h1>\
<div class=\"box\"><p>Discord member <strong>{discord}</strong> will be able to post on Stack Overflow as {soe_user}.</p>\
<p class=\"muted\">{access} {expiry}</p></div>\
<p>Only confirm if <strong>{discord}</strong> is you. If someone sent you this link, press <em>Cancel</em>: \
confirming would let them post under your name.</p>\
<form method=\"post\" action=\"/oauth/confirm\">\
<input type=\"hidden\" name=\"form_token\" value=\"{token}\">\
<button class=\"primary\" type=\"submit\" name=\"action\" value=\"confirm\">Confirm</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\">Cancel</button></form>",
        discord = esc(discord_name),
        access = if can_write {
            "Questions, answers, votes and accepts you make from Discord will be credited to this account."
        } else {
            "This token is read-only."
        },
        token = html_escape::encode_double_quoted_attribute(form_token),
    );
    page("Confirm account link", &body)
}
