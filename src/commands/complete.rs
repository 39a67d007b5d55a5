//! Question autocomplete for `/so question id` and `/so answer question`: members pick a
//! question by its title instead of remembering its number.
//!
//! Choices come first from the questions this channel has seen lately (search results listed
//! and question cards shown or shared here, kept in memory by [`RecentQuestions`]), then, when
//! none of those match and the member typed at least [`LIVE_SEARCH_MIN`] characters, from one
//! live search (each keystroke is an autocomplete request, so the channel's own questions
//! come first and cost nothing): through the search cache, else through the service budget charged to the
//! member's share (a member past their share just gets the recent choices; autocomplete never
//! waits for the budget). A typed number or question link is offered as it is. Every choice's
//! value is the question id, so the command itself works unchanged.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::soe::{PageSize, SearchItem, SearchSort, SoeRead};

use super::caches::SearchCache;
use super::render::hit_question_id;
use super::reply::{limits, truncate, Choice, Reply};
use super::show::parse_question_ref;
use super::Commands;

/// Characters typed before a live search is worth a request.
pub const LIVE_SEARCH_MIN: usize = 3;
/// Questions remembered per channel.
const PER_CHANNEL: usize = 50;
/// Channels remembered (the least recently used go first).
const CHANNELS: usize = 1000;

/// One channel's recent questions: when it was last used (for eviction), and (question id,
/// title) pairs, newest first.
type ChannelQuestions = (u64, VecDeque<(i64, String)>);

/// The questions each channel has seen lately, newest first, in memory (lost on restart,
/// which only means fewer suggestions until the next search).
#[derive(Debug, Default)]
pub struct RecentQuestions {
    /// Channel id → (question id, title), newest first; plus a use counter for eviction.
    channels: Mutex<HashMap<u64, ChannelQuestions>>,
    /// Bumped on every record, to find the least recently used channel.
    tick: std::sync::atomic::AtomicU64,
}

impl RecentQuestions {
    /// Remembers that `channel` saw question `id` titled `title`.
    pub fn record(&self, channel: Option<u64>, id: i64, title: &str) {
        let Some(channel) = channel else { return };
        let tick = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut map = self.channels.lock();
        if !map.contains_key(&channel) && map.len() >= CHANNELS {
            if let Some(oldest) = map.iter().min_by_key(|(_, (t, _))| *t).map(|(c, _)| *c) {
                map.remove(&oldest);
            }
        }
        let (used, list) = map.entry(channel).or_default();
        *used = tick;
        list.retain(|(q, _)| *q != id);
        list.push_front((id, title.to_string()));
        list.truncate(PER_CHANNEL);
    }

    /// The title `channel` saw for question `id`, if it saw it lately.
    pub fn title(&self, channel: Option<u64>, id: i64) -> Option<String> {
        let map = self.channels.lock();
        map.get(&channel?)?
            .1
            .iter()
            .find(|(q, _)| *q == id)
            .map(|(_, t)| t.clone())
    }

    /// `channel`'s questions whose title contains every word of `typed`, newest first.
    pub fn matching(&self, channel: Option<u64>, typed: &str) -> Vec<(i64, String)> {
        let Some(channel) = channel else {
            return vec![];
        };
        let words: Vec<String> = typed.split_whitespace().map(str::to_lowercase).collect();
        let map = self.channels.lock();
        map.get(&channel)
            .map(|(_, list)| {
                list.iter()
                    .filter(|(_, t)| {
                        let t = t.to_lowercase();
                        words.iter().all(|w| t.contains(w.as_str()))
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn choice(id: i64, title: &str) -> Choice {
    let suffix = format!(" · #{id}");
    let room = limits::CHOICES_TEXT.saturating_sub(suffix.chars().count());
    Choice {
        name: format!("{}{suffix}", truncate(title, room)),
        value: id.to_string(),
    }
}

/// Choices for a question option, given what the member typed.
pub async fn questions(ctx: &Commands, member: u64, channel: Option<u64>, typed: &str) -> Reply {
    let typed = typed.trim();
    let mut choices: Vec<Choice> = Vec::new();
    if let Some(id) = parse_question_ref(typed) {
        choices.push(Choice {
            name: truncate(&format!("Question {id}"), limits::CHOICES_TEXT),
            value: id.to_string(),
        });
    }
    let mut seen: std::collections::HashSet<i64> = Default::default();
    for (id, title) in ctx.recent.matching(channel, typed) {
        if seen.insert(id) {
            choices.push(choice(id, &title));
        }
    }
    if choices.is_empty() && typed.chars().count() >= LIVE_SEARCH_MIN {
        for (id, title) in live(ctx, member, typed).await {
            if seen.insert(id) {
                choices.push(choice(id, &title));
            }
        }
    }
    Reply::choices(choices)
}

/// One search for `typed`: cached, or charged to the member's share; nothing when refused or
/// failed (autocomplete degrades to fewer choices, it never errors).
async fn live(ctx: &Commands, member: u64, typed: &str) -> Vec<(i64, String)> {
    search_titles(ctx, member, ctx.site.team.as_ref(), typed)
        .await
        .unwrap_or_default()
}

/// The questions one search for `typed` finds, as (question id, title), each once, in the
/// site's order: from the search cache, or one call charged to `member`'s share of the
/// service budget. The error is the reply to give (slow down, or the site's failure).
pub async fn search_titles(
    ctx: &Commands,
    member: u64,
    team: Option<&crate::soe::TeamSlug>,
    typed: &str,
) -> Result<Vec<(i64, String)>, Reply> {
    let key = SearchCache::key(team.map(|t| t.as_str()), typed, SearchSort::Relevance, 1);
    let page = match ctx.search_cache.get(&key) {
        Some(p) => p,
        None => {
            let reader = ctx.reader_for(member, team);
            reader.reserve(1).await.map_err(|refusal| refusal.reply())?;
            match reader
                .search(typed, 1, PageSize::Fifty, SearchSort::Relevance)
                .await
            {
                Ok(p) => {
                    let p = Arc::new(p);
                    ctx.search_cache.put(key, p.clone());
                    p
                }
                Err(e) => {
                    tracing::info!(error = %e, "question search failed");
                    return Err(ctx.soe_failure(&e));
                }
            }
        }
    };
    let mut seen = std::collections::HashSet::new();
    Ok(page
        .items
        .iter()
        .filter_map(|h| {
            let title = match h {
                SearchItem::Question(q) => &q.common.title,
                SearchItem::Answer(a) => &a.common.title,
                _ => return None,
            };
            Some((hit_question_id(h)?, title.clone()))
        })
        .filter(|(id, _)| seen.insert(*id))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_questions_are_per_channel_newest_first_and_bounded() {
        let r = RecentQuestions::default();
        r.record(Some(1), 3, "Async tasks with tokio");
        r.record(Some(1), 4, "Sharing a pool in axum");
        r.record(Some(2), 5, "Tokio in another channel");
        r.record(Some(1), 3, "Async tasks with tokio");
        assert_eq!(r.matching(Some(1), "")[0].0, 3, "newest first, once");
        assert_eq!(r.matching(Some(1), "TOKIO").len(), 1);
        assert_eq!(r.matching(Some(1), "axum pool")[0].0, 4);
        assert!(r.matching(None, "tokio").is_empty());
        for i in 0..200 {
            r.record(Some(1), 100 + i, "filler");
        }
        assert_eq!(r.matching(Some(1), "").len(), PER_CHANNEL);
        let c = choice(7, &"x".repeat(300));
        assert!(c.name.chars().count() <= 100 && c.name.ends_with(" · #7"));
    }
}
