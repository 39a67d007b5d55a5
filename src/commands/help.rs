//! `/so help`, and the names members see for the message commands.

use super::i18n::Lang;
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
    ask_message_command_in(Lang::En, site)
}

/// [`ask_message_command`] in `lang` (the name a member using Discord in that language sees):
/// "Ask on <site>" when it fits 32 characters, else the language's fallback.
pub fn ask_message_command_in(lang: Lang, site: &str) -> String {
    let name = crate::tr!(lang, "command-ask-on", site = site.trim());
    if name.chars().count() <= COMMAND_NAME_MAX {
        name
    } else {
        crate::tr!(lang, "command-ask-fallback")
    }
}

/// The "Post as answer" message command's name in `lang` (registered under the English one).
pub fn answer_message_command_in(lang: Lang) -> String {
    crate::tr!(lang, "command-post-as-answer")
}

/// The commands, the site, and how linking works, in the member's language.
pub fn help(ctx: &Commands) -> Reply {
    let lang = super::i18n::current();
    let text = crate::t!(
        "help-body",
        site = ctx.site.name.as_str(),
        ask = ask_message_command_in(lang, &ctx.site.name),
        answer = answer_message_command_in(lang),
        save = save_thread_command(&ctx.site.name)
    );
    Reply::private("").with_embed(
        Embed::new(
            &crate::t!("help-title", site = ctx.site.name.as_str()),
            &text,
        )
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
        assert_eq!(
            ask_message_command_in(Lang::De, "Acme Stack Overflow"),
            "Auf Acme Stack Overflow fragen"
        );
        assert_eq!(
            ask_message_command_in(Lang::De, "Initech Engineering Knowledge"),
            "Als Frage stellen"
        );
        assert_eq!(answer_message_command_in(Lang::De), "Als Antwort posten");
    }
}
