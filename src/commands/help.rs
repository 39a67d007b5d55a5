//! `/so help`, and the names members see for the message commands.

use super::reply::{Embed, Reply};
use super::Commands;

/// Longest application command name Discord accepts.
const COMMAND_NAME_MAX: usize = 32;

/// The save message command's name: "Save thread to <site>" when it fits Discord's 32
/// characters, else "Save thread".
pub fn save_thread_command(site: &str) -> String {
    let name = format!("Save thread to {}", site.trim());
    if name.chars().count() <= COMMAND_NAME_MAX {
        name
    } else {
        "Save thread".into()
    }
}

/// The ask message command's name: "Ask on <site>" when it fits Discord's 32 characters,
/// else "Ask as a question". The adapter registers it under this name and the help names it.
pub fn ask_message_command(site: &str) -> String {
    let name = format!("Ask on {}", site.trim());
    if name.chars().count() <= COMMAND_NAME_MAX {
        name
    } else {
        "Ask as a question".into()
    }
}

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
Message menu (⋯ → Apps): **{ask}**, **Post as answer**, **{save}** (a solved thread becomes a question and its answer, each posted as its author once they agree).\n\n\
**Alerts** (DMs)\n\
`/so alerts on [tags]`: answers to your questions (Accept right from the DM) and new questions in your watched tags. `/so alerts off`: none, not even for questions asked here.\n\
`/so experts on|off`: unanswered questions in tags you are a subject-matter expert for.\n\n\
**Your account**\n\
`/so link`: link your {site} account. You sign in on the site and approve; the bot keeps your token encrypted and only uses it for what you do here. Posts are credited to you, never to a bot account.\n\
`/so me`: what is linked, its access and expiry. `/so unlink`: forget your token and drafts.\n\n\
If you write a question before linking, it is kept and posted as you once you link.",
        site = ctx.site.name,
        ask = ask_message_command(&ctx.site.name),
        save = save_thread_command(&ctx.site.name)
    );
    Reply::private("").with_embed(
        Embed::new(&format!("soe-bot for {}", ctx.site.name), &text)
            .url(Some(ctx.site.url.to_string()))
            .color(super::render::COLOR),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ask_command_names_the_site_when_it_fits() {
        assert_eq!(
            ask_message_command("Acme Stack Overflow"),
            "Ask on Acme Stack Overflow"
        );
        let long = ask_message_command("Initech Engineering Knowledge Base");
        assert_eq!(long, "Ask as a question");
        assert!(ask_message_command(&"x".repeat(25)).chars().count() <= 32);
    }
}
