//! The few HTML pages the bot serves to browsers during linking.
//!
//! Self-contained (inline CSS, no scripts, no third-party resources, no external links except
//! the member's own SOE profile), every dynamic value HTML-escaped, nothing echoed from the
//! query string.

use html_escape::encode_text as esc;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222;line-height:1.5}\
h1{font-size:1.4rem}.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}\
button{font-size:1rem;padding:.5rem 1.1rem;margin-right:.5rem;border-radius:6px;border:1px solid #888;cursor:pointer}\
button.primary{background:#f48024;border-color:#d06a16;color:#fff}.muted{color:#666;font-size:.9rem}\
.ok{color:#17672f}.warn{color:#8a3b00}code{background:#eee;padding:0 .2rem}";

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

/// What the confirmation page shows.
pub struct ConfirmPage<'a> {
    /// The pairing to confirm.
    pub view: &'a crate::link::ConfirmView,
    /// The token's expiry, formatted.
    pub expires: Option<&'a str>,
    /// The form's absolute action URL (`{public_url}/oauth/confirm`, so a path prefix works).
    pub action: &'a str,
    /// The one-time form token, into a hidden field only.
    pub form_token: &'a str,
}

/// The confirmation page naming both accounts by what a nickname cannot fake: the Discord
/// `@username` and id (and the server), the SOE name with its user id and profile link.
pub fn confirm(p: &ConfirmPage<'_>) -> String {
    let v = p.view;
    let attr = html_escape::encode_double_quoted_attribute;
    let soe_name = match v
        .soe_user_url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        Some(url) => format!(
            "<a href=\"{}\" rel=\"noreferrer\"><strong>{}</strong></a>",
            attr(url),
            esc(&v.soe_user_name)
        ),
        None => format!("<strong>{}</strong>", esc(&v.soe_user_name)),
    };
    let server = match v.guild_id {
        Some(g) => format!(" in the server with id <code>{g}</code>"),
        None => String::new(),
    };
    let proof = if v.discord_verified {
        "<p class=\"ok\">✓ Discord confirmed that this browser is signed in as this account.</p>"
            .to_string()
    } else {
        "<p class=\"warn\"><strong>Warning:</strong> this bot is set up without checking which \
         Discord account is using this browser. Make sure you pressed <em>Link</em> in Discord \
         yourself a moment ago.</p>"
            .to_string()
    };
    let can_write = v.scopes.iter().any(|s| s == "write_access");
    let expiry = match p.expires {
        Some(e) => format!(
            "The token expires {}; the bot will ask you to link again then.",
            esc(e)
        ),
        None => "The token does not expire; unlink any time with /so unlink.".into(),
    };
    let body = format!(
        "<h1>Link these accounts?</h1>\
<div class=\"box\"><p>Discord account <strong>@{username}</strong> (user id <code>{discord_id}</code>){server}</p>{proof}</div>\
<div class=\"box\"><p>will post on the site as {soe_name} (user id <code>{soe_id}</code>).</p>\
<p class=\"muted\">{access} {expiry}</p></div>\
<p>Only confirm if <strong>@{username}</strong> is you and {soe_plain} is you. If someone sent you this link, press <em>Cancel</em>.</p>\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"form_token\" value=\"{token}\">\
<button class=\"primary\" type=\"submit\" name=\"action\" value=\"confirm\" id=\"confirm\">Confirm</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
        username = esc(&v.discord_username),
        discord_id = v.discord_id,
        soe_id = v.soe_user_id,
        soe_plain = esc(&v.soe_user_name),
        access = if can_write {
            "Questions, answers, votes and accepts you make from Discord will be credited to this account."
        } else {
            "This token is read-only."
        },
        action = attr(p.action),
        token = attr(p.form_token),
    );
    page("Confirm account link", &body)
}
