//! A [`Reply`] as console text: content, embeds, numbered buttons.

use crate::commands::{Component, Reply, ReplyKind};

/// Renders `reply`; buttons are numbered from 1 in reading order (the number `press` takes).
pub fn render(reply: &Reply) -> String {
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
