//! `/so search`: private results first, a select to open one (Back returns to the page),
//! Prev/Next, Share to channel. A question appears once per page, whether it matched itself
//! or through its answers.
//!
//! Each search is saved in the store under a random handle, per member and with a TTL
//! ([`crate::store::SavedSearch`]); its buttons carry only the handle and a page number, so
//! Next, Prev and Share act on exactly the query, tag and sort the member searched, however
//! long. A handle that expired (or belongs to another member) is answered with "search
//! again", never with another query's results.
//!
//! Results come from the service token (one API page of 50 hits, cached for 60 s, so paging
//! costs nothing), five per Discord page. A tag filter is applied to the hits locally (the API
//! search has no tag filter). The `/so search` command counts against the member's search
//! rate, cached or not; a page that needs SOE (a new search, Next past the cached API page,
//! Share after the cache expired) is also charged to the member's share of the service
//! budget, and a member past it is told to slow down before any call (see `caches`). Share
//! follows the rules in `share`: permission first, cooldowns once the page is ready.
//!
//! In a forum post, the private results (and the "no results" reply) also offer "Save thread
//! to …" ([`super::thread_save::forum_button`]): the post, once solved, becomes a question
//! and its answer on the site.

use std::sync::Arc;

use crate::soe::{Page, PageSize, SearchItem, SearchSort, SoeRead};
use crate::store::{Allowance, SavedSearch, SEARCH_TTL_SECS};

use super::caches::SearchCache;
use super::ids::Id;
use super::render::{hit_choice, hit_line, hit_question_id, COLOR};
use super::reply::{truncate, ButtonStyle, Component, Embed, Reply, SelectOption};
use super::{Commands, Invocation};

/// Hits per Discord page.
pub const PER_PAGE: usize = 5;
/// Hits per API page.
const API_PAGE: usize = 50;
/// Longest tag name on SOE (the `tag` option is capped at this at registration, too).
pub const TAG_MAX: usize = 35;

/// Parses the `sort` option.
pub fn parse_sort(s: Option<&str>) -> SearchSort {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("newest") => SearchSort::Newest,
        Some("active") => SearchSort::Active,
        Some("score") | Some("votes") => SearchSort::Score,
        _ => SearchSort::Relevance,
    }
}

/// `/so search query:<text> [tag] [sort]`.
pub async fn command(ctx: &Commands, inv: &Invocation) -> Reply {
    let Some(query) = inv.text("query") else {
        return Reply::private(crate::t!("search-need-query"));
    };
    let tag = inv.text("tag").map(|t| t.trim().to_lowercase());
    let tag = tag.filter(|t| !t.is_empty());
    if let Some(t) = &tag {
        if t.chars().count() > TAG_MAX {
            return Reply::private(crate::t!("search-tag-too-long", max = TAG_MAX));
        }
    }
    let sort = parse_sort(inv.text("sort").as_deref());
    let key = format!("search:{}", inv.member.id);
    match ctx
        .store
        .take_rate(
            &key,
            ctx.limits.searches_burst,
            ctx.limits.search_refill_secs.into(),
            ctx.clock.now(),
        )
        .await
    {
        Ok(Allowance::Allowed) => {}
        Ok(Allowance::RetryAfter(secs)) => {
            return Reply::private(crate::t!("search-too-fast", secs = secs));
        }
        Err(e) => return ctx.store_failure(&e),
    }
    let now = ctx.clock.now();
    let search = SavedSearch {
        handle: super::ids::new_draft_id(),
        discord_user: inv.member.id,
        query,
        tag,
        sort,
        created_at: now,
        expires_at: now + chrono::Duration::seconds(SEARCH_TTL_SECS),
    };
    if let Err(e) = ctx.store.put_search(&search).await {
        return ctx.store_failure(&e);
    }
    let mut reply = render(ctx, inv, &search, 0, false).await;
    reply.kind = super::ReplyKind::Message;
    reply
}

/// A button on a results message: page `page` of the member's saved search `handle`, or
/// `share` it to the channel.
pub async fn page(ctx: &Commands, inv: &Invocation, handle: &str, page: u32, share: bool) -> Reply {
    if share {
        if let Some(refusal) = super::share::permission_refusal(inv) {
            return refusal;
        }
    }
    match ctx
        .store
        .get_search(inv.member.id, handle, ctx.clock.now())
        .await
    {
        Ok(Some(search)) => render(ctx, inv, &search, page, share).await,
        Ok(None) => Reply::private(crate::t!("search-expired")),
        Err(e) => ctx.store_failure(&e),
    }
}

/// One API page of results: from the cache, or from SOE charged to `member`'s share. The
/// error is the reply to give.
async fn fetch(
    ctx: &Commands,
    member: u64,
    team: Option<&crate::soe::TeamSlug>,
    query: &str,
    sort: SearchSort,
    api_page: u32,
) -> Result<Arc<Page<SearchItem>>, Reply> {
    let key = SearchCache::key(team.map(|t| t.as_str()), query, sort, api_page);
    if let Some(hit) = ctx.search_cache.get(&key) {
        return Ok(hit);
    }
    let reader = ctx.reader_for(member, team);
    reader.reserve(1).await.map_err(|refusal| refusal.reply())?;
    let page = Arc::new(
        reader
            .search(query, api_page, PageSize::Fifty, sort)
            .await
            .map_err(|e| ctx.soe_failure(&e))?,
    );
    ctx.search_cache.put(key, page.clone());
    Ok(page)
}

/// Renders results page `page` (0-based) of `search`. `share` posts it publicly without
/// controls.
async fn render(
    ctx: &Commands,
    inv: &Invocation,
    search: &SavedSearch,
    page: u32,
    share: bool,
) -> Reply {
    let (query, tag, sort) = (search.query.as_str(), search.tag.as_deref(), search.sort);
    let first = page as usize * PER_PAGE;
    let api_page = if tag.is_some() {
        1
    } else {
        (first / API_PAGE) as u32 + 1
    };
    let team = ctx.team_in(inv.guild_id, inv.channel_id).await;
    let results = match fetch(ctx, inv.member.id, team.as_ref(), query, sort, api_page).await {
        Ok(r) => r,
        // A refusal on a button keeps the results message; it is told privately.
        Err(reply) => return reply,
    };
    let hits: Vec<&SearchItem> = results
        .items
        .iter()
        .filter(|i| !matches!(i, SearchItem::Other))
        .filter(|i| match (tag, i) {
            (None, _) => true,
            (Some(t), SearchItem::Question(q)) => q.common.tags.iter().any(|x| x.name == t),
            (Some(t), SearchItem::Answer(a)) => a.common.tags.iter().any(|x| x.name == t),
            (Some(t), SearchItem::Article(a)) => a.common.tags.iter().any(|x| x.name == t),
            (Some(_), SearchItem::Other) => false,
        })
        .collect();
    // One question never appears twice: a later hit on a question already listed (the
    // question itself, or another of its answers) is dropped.
    let mut listed = std::collections::HashSet::new();
    let found = hits.len();
    let hits: Vec<&SearchItem> = hits
        .into_iter()
        .filter(|h| hit_question_id(h).is_none_or(|q| listed.insert(q)))
        .collect();
    let repeats = found - hits.len();
    let (total, offset) = if tag.is_some() {
        (hits.len(), first)
    } else {
        (
            (results.total_count.max(0) as usize).saturating_sub(repeats),
            first % API_PAGE,
        )
    };
    let shown: Vec<&SearchItem> = hits.iter().skip(offset).take(PER_PAGE).copied().collect();
    let label = match tag {
        Some(t) => format!("{query} [{t}]"),
        None => query.to_string(),
    };
    if shown.is_empty() {
        let text = if page == 0 {
            crate::t!(
                "search-none",
                site = ctx.site.name.as_str(),
                label = truncate(&label, 100).replace('`', "'")
            )
        } else {
            crate::t!("search-no-more")
        };
        if share {
            return Reply::private(text);
        }
        let mut reply = Reply::private(text);
        if page == 0 {
            // Nothing on the site yet: in a forum post, offer to save the post once solved.
            if let Some(save) = super::thread_save::forum_button(ctx, inv).await {
                reply = reply.with_row(vec![save]);
            }
        }
        return reply.into_update();
    }
    // This channel has seen these questions: `/so question` suggests them (see `complete`).
    for h in &shown {
        if let (Some(q), SearchItem::Question(item)) = (hit_question_id(h), h) {
            ctx.recent.record(inv.channel_id, q, &item.common.title);
        }
    }
    let lines: Vec<String> = shown
        .iter()
        .enumerate()
        .filter_map(|(i, h)| hit_line(first + i + 1, h))
        .collect();
    let pages = total.div_ceil(PER_PAGE).max(1);
    let mut embed = Embed::new(
        &crate::t!("search-title", label = truncate(&label, 200)),
        &lines.join("\n\n"),
    )
    .color(COLOR)
    .footer(&crate::t!(
        "search-footer",
        page = page + 1,
        pages = pages,
        total = total,
        site = ctx.site.name.as_str()
    ));
    if share {
        if let Some(refusal) = super::share::take_cooldowns(ctx, inv).await {
            return refusal;
        }
        embed = embed.footer(&crate::t!(
            "search-shared-by",
            name = inv.member.name.as_str(),
            site = ctx.site.name.as_str()
        ));
        return Reply::public("").with_embed(embed);
    }
    let id = |p: u32| {
        Id::SearchPage {
            page: p,
            search: search.handle.clone(),
        }
        .encode()
    };
    let mut prev = Component::button(
        id(page.saturating_sub(1)),
        &crate::t!("button-prev"),
        ButtonStyle::Secondary,
    );
    let mut next = Component::button(
        id(page + 1),
        &crate::t!("button-next"),
        ButtonStyle::Secondary,
    );
    if let Component::Button { disabled, .. } = &mut prev {
        *disabled = page == 0;
    }
    if let Component::Button { disabled, .. } = &mut next {
        *disabled = (page as usize + 1) >= pages;
    }
    let share_btn = Component::button(
        Id::ShareSearch {
            page,
            search: search.handle.clone(),
        }
        .encode(),
        &crate::t!("button-share"),
        ButtonStyle::Primary,
    );
    let picks: Vec<SelectOption> = shown
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let q = hit_question_id(h)?;
            let (label, about) = hit_choice(first + i + 1, h)?;
            Some(SelectOption::new(&label, &q.to_string(), Some(&about)))
        })
        .collect();
    let pick = Component::select(
        Id::PickResult {
            page,
            search: search.handle.clone(),
        }
        .encode(),
        &crate::t!("search-open-result"),
        picks,
    );
    let mut controls = vec![prev, next, share_btn];
    // In a forum post: "Save thread to …", the thread itself once it is solved.
    controls.extend(super::thread_save::forum_button(ctx, inv).await);
    Reply::private("")
        .with_embed(embed)
        .with_row(vec![pick])
        .with_row(controls)
        .into_update()
}
