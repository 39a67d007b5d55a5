//! The fake site's human-facing pages: a home page, question pages (what `webUrl` and
//! `shareUrl` point at) and user pages, so links the bot posts lead somewhere in the demo.
//!
//! Invariants: pages are self-contained HTML (no external resources, inline CSS only); all
//! stored text is escaped; post bodies are the same sanitized HTML the API serves; pages need no
//! token (the real site would ask for a login) and are logged with their site path as route.

use super::render::{escape, markdown_to_html, View};
use super::server::{Ctx, Outcome, Reply, Shared};

/// The log's route for a site path: the path itself.
pub(crate) fn route_template(path: &str) -> String {
    path.to_string()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;\
padding:0 1rem;color:#232629}pre{background:#f6f6f6;padding:.75rem;overflow:auto}\
.meta{color:#6a737c;font-size:.85rem}.tag{background:#e1ecf4;color:#39739d;padding:.1rem .4rem;\
margin-right:.3rem;border-radius:3px;font-size:.8rem}.answer{border-top:1px solid #ddd;\
padding-top:1rem}.accepted{border-left:4px solid #2f6f44;padding-left:1rem}";

fn layout(title: &str, content: &str) -> Reply {
    Reply::html(
        200,
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} - Acme \
             Stack Overflow (fake)</title><style>{STYLE}</style></head><body>\
             <p class=\"meta\"><a href=\"/\">Acme Stack Overflow</a> (a fake site for tests and \
             demos)</p>{content}</body></html>\n",
            t = escape(title),
        ),
    )
}

fn not_found() -> Outcome {
    Reply::text(404, "Not Found").into()
}

/// Serves `GET` pages.
pub(crate) fn serve(shared: &Shared, ctx: &Ctx) -> Outcome {
    let segments: Vec<&str> = ctx.path.trim_matches('/').split('/').collect();
    let (team, rest): (Option<&str>, &[&str]) = match segments.as_slice() {
        ["c", team, rest @ ..] => (Some(*team), rest),
        rest => (None, rest),
    };
    let store = shared.store.lock();
    let team = match team {
        Some(t) => match store.team(t) {
            Some(t) => Some(t.to_string()),
            None => return not_found(),
        },
        None => None,
    };
    let view = View {
        store: &store,
        site: &shared.site_url,
        encode: crate::soe::text::EncodedFields::none(),
        viewer: None,
    };
    let id = |s: &str| s.parse::<i64>().ok();
    match rest {
        [""] if team.is_none() => {
            let mut items = String::new();
            for q in store.questions_on(None).iter().rev() {
                items.push_str(&format!(
                    "<li><a href=\"{}\">{}</a> <span class=\"meta\">score {}, {} answers</span></li>",
                    escape(&view.question_url(q)),
                    escape(&q.title),
                    q.score,
                    store.answer_count(q.id),
                ));
            }
            layout("Questions", &format!("<h1>Questions</h1><ul>{items}</ul>")).into()
        }
        ["q", qid] => match id(qid).and_then(|i| store.question(team.as_deref(), i)) {
            Some(q) => Reply::redirect(&view.question_url(q)).into(),
            None => not_found(),
        },
        ["a", aid] => {
            let question = id(aid)
                .and_then(|aid| {
                    store
                        .all_questions()
                        .find(|q| store.answer(q.id, aid).is_some())
                })
                .filter(|q| q.team.as_deref() == team.as_deref());
            match (question, id(aid)) {
                (Some(q), Some(aid)) => {
                    Reply::redirect(&format!("{}/{aid}#{aid}", view.question_url(q))).into()
                }
                _ => not_found(),
            }
        }
        ["questions", qid, ..] => {
            let Some(q) = id(qid).and_then(|i| store.question(team.as_deref(), i)) else {
                return not_found();
            };
            let tags: String = q
                .tags
                .iter()
                .map(|t| format!("<span class=\"tag\">{}</span>", escape(t)))
                .collect();
            let name = |uid: i64| {
                store
                    .user(uid)
                    .map(|u| u.name.clone())
                    .unwrap_or_else(|| format!("user{uid}"))
            };
            let mut answers = String::new();
            for a in store.answers_of(q.id) {
                answers.push_str(&format!(
                    "<div class=\"answer{acc}\" id=\"{id}\"><p class=\"meta\">Answer {id} by {who}, \
                     score {score}{accepted}</p>{body}</div>",
                    acc = if a.is_accepted { " accepted" } else { "" },
                    id = a.id,
                    who = escape(&name(a.owner_id)),
                    score = a.score,
                    accepted = if a.is_accepted { ", accepted" } else { "" },
                    body = markdown_to_html(&a.body_markdown),
                ));
            }
            layout(
                &q.title,
                &format!(
                    "<h1>{title}</h1><p class=\"meta\">Asked by {who}, score {score}</p>{body}\
                     <p>{tags}</p><h2>{n} answers</h2>{answers}",
                    title = escape(&q.title),
                    who = escape(&name(q.owner_id)),
                    score = q.score,
                    body = markdown_to_html(&q.body_markdown),
                    n = store.answer_count(q.id),
                ),
            )
            .into()
        }
        ["users", uid, ..] if team.is_none() => match id(uid).and_then(|i| store.user(i)) {
            Some(u) => layout(
                &u.name,
                &format!(
                    "<h1>{}</h1><p>{} · {} · reputation {}</p>",
                    escape(&u.name),
                    escape(u.job_title.as_deref().unwrap_or("")),
                    escape(&u.role),
                    u.reputation
                ),
            )
            .into(),
            None => not_found(),
        },
        _ => not_found(),
    }
}
