//! A [`Reply`] as console text: content, embeds, numbered buttons. Discord relative
//! timestamps (`<t:…:R>`) are shown as Discord would show them at `now` ("3 days ago").

use chrono::{DateTime, Utc};

use crate::commands::render::age;
use crate::commands::{Component, Reply, ReplyKind};

/// Replaces every `<t:SECONDS:R>` in `text` by its age at `now`.
pub fn relative_times(text: &str, now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<t:") {
        out.push_str(&rest[..start]);
        let tail = &rest[start + 3..];
        let parsed = tail.split_once(":R>").and_then(|(secs, after)| {
            let t = DateTime::from_timestamp(secs.parse::<i64>().ok()?, 0)?;
            Some((t, after))
        });
        match parsed {
            Some((t, after)) => {
                out.push_str(&age(Some(t), now));
                rest = after;
            }
            None => {
                out.push_str("<t:");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders `reply` as of `now`; buttons are numbered from 1 in reading order (the number
/// `press` takes).
pub fn render(reply: &Reply, now: DateTime<Utc>) -> String {
    relative_times(&render_raw(reply), now)
}

fn render_raw(reply: &Reply) -> String {
    let mut out = String::new();
    let vis = if reply.ephemeral {
        "only you can see this"
    } else {
        "visible to the channel"
    };
    match &reply.kind {
        ReplyKind::Modal(m) => {
            out.push_str(&format!("┌ form: {}\n", m.title));
            for i in &m.inputs {
                out.push_str(&format!(
                    "│ {}{}{}\n",
                    i.label,
                    if i.required { "" } else { " (optional)" },
                    i.value
                        .as_deref()
                        .map(|v| format!(" [prefilled: {}]", first_line(v)))
                        .unwrap_or_default()
                ));
            }
            out.push_str("└ (fill it in below)\n");
            return out;
        }
        ReplyKind::Choices(c) => {
            out.push_str("suggestions: ");
            out.push_str(
                &c.iter()
                    .map(|c| c.name.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            out.push('\n');
            return out;
        }
        ReplyKind::Update => out.push_str(&format!("┌ (message updated, {vis})\n")),
        ReplyKind::Message => out.push_str(&format!("┌ ({vis})\n")),
    }
    for line in reply.content.lines() {
        out.push_str(&format!("│ {line}\n"));
    }
    for e in &reply.embeds {
        out.push_str(&format!(
            "│ ▌ {}{}\n",
            e.title,
            e.url
                .as_deref()
                .map(|u| format!("  <{u}>"))
                .unwrap_or_default()
        ));
        for line in e.description.lines() {
            out.push_str(&format!("│ ▌ {line}\n"));
        }
        for f in &e.fields {
            out.push_str(&format!("│ ▌ {}: {}\n", f.name, f.value.replace('\n', " ")));
        }
        if let Some(f) = &e.footer {
            out.push_str(&format!("│ ▌ — {f}\n"));
        }
    }
    let mut n = 0;
    for row in &reply.rows {
        let mut line = String::from("│ ");
        for c in row {
            n += 1;
            match c {
                Component::Button {
                    label, disabled, ..
                } => {
                    line.push_str(&format!(
                        "[{n}] {label}{}  ",
                        if *disabled { " (off)" } else { "" }
                    ));
                }
                Component::Link { label, url } => {
                    line.push_str(&format!("[{n}] {label} → {url}  "))
                }
                Component::Select {
                    placeholder,
                    options,
                    ..
                } => {
                    line.push_str(&format!("[{n}] ▾ {placeholder} (choose <text>)"));
                    for o in options {
                        line.push_str(&format!("\n│     · {}", o.label));
                        if let Some(d) = &o.description {
                            line.push_str(&format!(" — {d}"));
                        }
                    }
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("└\n");
    out
}

fn first_line(s: &str) -> String {
    let l = s.lines().next().unwrap_or_default();
    if l.chars().count() > 60 || s.lines().count() > 1 {
        format!("{}…", l.chars().take(60).collect::<String>())
    } else {
        l.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_timestamps_read_as_ages() {
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(
            relative_times("asked <t:1699740800:R> · <t:x:R> <t:1", now),
            "asked 3 days ago · <t:x:R> <t:1"
        );
    }
}
