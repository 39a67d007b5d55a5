//! `/so help`.

use super::reply::{Embed, Reply};
use super::Commands;

/// The commands, the site, and how linking works.
pub fn help(ctx: &Commands) -> Reply {
    let text = format!(
        "**Search and read** (uses the bot's read-only access)\n\
`/so search query:<words> [tag] [sort]`: top results, privately; page with Prev/Next, then Share to channel.\n\
`/so question id:<id or link>`: a question with its top answers.\n\n\
**Ask, answer, vote, accept** (as yourself)\n\
`/so ask [title] [tags]`: a form for your question; similar questions are shown first.\n\
`/so answer question:<id or link>`: a form for your answer.\n\
Buttons under a question: Upvote, Downvote, Answer, Accept (if you asked it).\n\
Message menu (⋯ → Apps): **Ask on Stack Overflow**, **Post as answer**.\n\n\
**Your account**\n\
`/so link`: link your {site} account. You sign in on the site and approve; the bot keeps your token encrypted and only uses it for what you do here. Posts are credited to you, never to a bot account.\n\
`/so me`: what is linked, its access and expiry. `/so unlink`: forget your token and drafts.\n\n\
If you write a question before linking, it is kept and posted as you once you link.",
        site = ctx.site.name
    );
    Reply::private("").with_embed(
        Embed::new(&format!("soe-bot for {}", ctx.site.name), &text)
            .url(Some(ctx.site.url.to_string()))
            .color(super::render::COLOR),
    )
}
