//! The message catalogue: what members read, in English and German, through Fluent.
//!
//! Replies use the invocation's locale (Discord's `locale`, e.g. `de` or `en-US`, carried as
//! data on the [`super::Invocation`]) where the catalogue has a translation:
//! [`super::Commands::handle`] runs each use case inside [`scope`] with the invocation's
//! [`Lang`], and the texts built there ask [`t`]. Invariants:
//! - a message missing in a language falls back to English, and one missing in English shows
//!   its id (a test checks that both catalogues hold the same ids and format without errors);
//! - anything built outside a scope (notices in the background, when no locale is known) is
//!   English, the default;
//! - Fluent's bidi isolation marks are off: Discord shows the text exactly as built;
//! - the registration asks [`tr`] for command names and descriptions in each Discord locale a
//!   language serves ([`Lang::discord_locales`]).
//!
//! The catalogues are `i18n/en.ftl` and `i18n/de.ftl`, compiled in.

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
pub use fluent_bundle::FluentValue;
use fluent_bundle::{FluentArgs, FluentResource};

/// A language the catalogue has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Lang {
    /// English, the default and the fallback.
    #[default]
    En,
    /// German.
    De,
}

impl Lang {
    /// Every language, English first.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The language for a Discord locale (`de`, `en-US`, …): its translation when the
    /// catalogue has one, else English.
    pub fn of(locale: Option<&str>) -> Lang {
        let primary = locale
            .and_then(|l| l.split(['-', '_']).next())
            .map(str::to_ascii_lowercase);
        match primary.as_deref() {
            Some("de") => Lang::De,
            _ => Lang::En,
        }
    }

    /// The Discord locales (as in the API's `AvailableLocalesEnum`) that show this language
    /// at registration; English is the commands' default text, so it needs none.
    pub fn discord_locales(self) -> &'static [&'static str] {
        match self {
            Lang::En => &[],
            Lang::De => &["de"],
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("i18n/en.ftl"),
            Lang::De => include_str!("i18n/de.ftl"),
        }
    }

    fn tag(self) -> unic_langid::LanguageIdentifier {
        let tag = match self {
            Lang::En => "en",
            Lang::De => "de",
        };
        // Both are valid tags; the default ("und") would only change plural rules.
        tag.parse().unwrap_or_default()
    }
}

/// One language's compiled messages.
type Bundle = FluentBundle<FluentResource>;

/// Both catalogues, parsed once.
static CATALOGUE: LazyLock<[Bundle; 2]> = LazyLock::new(|| Lang::ALL.map(bundle));

/// Parses `lang`'s catalogue. A syntax error (caught by the tests) keeps what did parse, so
/// the bot still answers, with the fallback for the broken entries.
fn bundle(lang: Lang) -> Bundle {
    let resource =
        FluentResource::try_new(lang.source().to_string()).unwrap_or_else(|(partial, errors)| {
            tracing::error!(
                ?lang,
                errors = errors.len(),
                "the message catalogue has syntax errors; those messages fall back"
            );
            partial
        });
    let mut bundle = FluentBundle::new_concurrent(vec![lang.tag()]);
    bundle.set_use_isolating(false);
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            ?lang,
            errors = errors.len(),
            "the message catalogue repeats ids"
        );
    }
    bundle
}

fn catalogue(lang: Lang) -> &'static Bundle {
    &CATALOGUE[match lang {
        Lang::En => 0,
        Lang::De => 1,
    }]
}

tokio::task_local! {
    /// The language of the invocation being handled.
    static CURRENT: Lang;
}

/// Runs `work` with `lang` as the language of the texts it builds.
pub async fn scope<F: std::future::Future>(lang: Lang, work: F) -> F::Output {
    CURRENT.scope(lang, work).await
}

/// The language of the invocation being handled (English outside one).
pub fn current() -> Lang {
    CURRENT.try_with(|l| *l).unwrap_or_default()
}

/// Message `id` in `lang` with `args`, falling back to English, then to the id itself.
pub fn tr(lang: Lang, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        fluent_args.set(Cow::Borrowed(*name), value.clone());
    }
    for bundle in [catalogue(lang), catalogue(Lang::En)] {
        let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) else {
            continue;
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        if !errors.is_empty() {
            tracing::warn!(
                id,
                ?lang,
                errors = errors.len(),
                "a catalogue message did not format cleanly"
            );
        }
        return text.into_owned();
    }
    tracing::warn!(id, "a message id is missing from the catalogue");
    id.to_string()
}

/// Message `id` in the current invocation's language (see [`tr`]).
pub fn t(id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    tr(current(), id, args)
}

/// `t!("id")` or `t!("id", site = name, secs = n)`: [`t`] with named arguments (anything a
/// [`FluentValue`] is made from: `&str`, `String`, integers).
#[macro_export]
macro_rules! t {
    ($id:expr) => {
        $crate::commands::i18n::t($id, &[])
    };
    ($id:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::commands::i18n::t(
            $id,
            &[$((stringify!($name), $crate::commands::i18n::FluentValue::from($value))),+],
        )
    };
}

/// `tr!(lang, "id", name = value, …)`: [`tr`] with named arguments.
#[macro_export]
macro_rules! tr {
    ($lang:expr, $id:expr) => {
        $crate::commands::i18n::tr($lang, $id, &[])
    };
    ($lang:expr, $id:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::commands::i18n::tr(
            $lang,
            $id,
            &[$((stringify!($name), $crate::commands::i18n::FluentValue::from($value))),+],
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of `lang`'s catalogue, in order.
    fn ids(lang: Lang) -> Vec<String> {
        let resource = match FluentResource::try_new(lang.source().to_string()) {
            Ok(r) => r,
            Err((_, errors)) => panic!("{lang:?} catalogue does not parse: {errors:?}"),
        };
        resource
            .entries()
            .filter_map(|e| match e {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Every `$name` in a catalogue's source.
    fn variables(source: &str) -> Vec<String> {
        let mut out: Vec<String> = source
            .split('$')
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn both_catalogues_parse_and_hold_the_same_messages() {
        let (en, de) = (ids(Lang::En), ids(Lang::De));
        assert!(en.len() > 50, "{}", en.len());
        let missing: Vec<&String> = en.iter().filter(|i| !de.contains(i)).collect();
        let extra: Vec<&String> = de.iter().filter(|i| !en.contains(i)).collect();
        assert!(missing.is_empty(), "not translated: {missing:?}");
        assert!(extra.is_empty(), "not in English: {extra:?}");
    }

    #[test]
    fn every_message_formats_without_errors_given_its_variables() {
        for lang in Lang::ALL {
            let bundle = catalogue(lang);
            for id in ids(lang) {
                let pattern = bundle.get_message(&id).and_then(|m| m.value()).unwrap();
                // Every variable the catalogue names, as a number: text and plural
                // selectors take it, string selectors fall to their default variant.
                let mut args = FluentArgs::new();
                for name in variables(lang.source()) {
                    args.set(name, FluentValue::from(2));
                }
                let mut errors = Vec::new();
                let text = bundle.format_pattern(pattern, Some(&args), &mut errors);
                assert!(errors.is_empty(), "{lang:?} {id}: {errors:?}");
                assert!(!text.trim().is_empty(), "{lang:?} {id} is empty");
                assert!(!text.contains('\u{2068}'), "no isolation marks");
            }
        }
    }

    #[test]
    fn locales_pick_a_language_and_fall_back_to_english() {
        assert_eq!(Lang::of(Some("de")), Lang::De);
        assert_eq!(Lang::of(Some("de-AT")), Lang::De);
        assert_eq!(Lang::of(Some("en-US")), Lang::En);
        assert_eq!(Lang::of(Some("fr")), Lang::En);
        assert_eq!(Lang::of(None), Lang::En);
        assert_eq!(tr(Lang::De, "button-edit", &[]), "Bearbeiten");
        assert_eq!(tr(Lang::En, "button-edit", &[]), "Edit");
        assert_eq!(tr(Lang::De, "no-such-message", &[]), "no-such-message");
        // Multi-line messages keep their line breaks and blank lines; plurals choose.
        assert_eq!(
            tr(Lang::En, "similar-first", &[("list", FluentValue::from("L"))]),
            "Before posting, do any of these already answer it?\nL\n\nYour question is saved; post it if none of them helps."
        );
        assert_eq!(
            tr(Lang::En, "hit-answers", &[("count", FluentValue::from(1))]),
            "1 answer"
        );
        assert_eq!(
            tr(Lang::De, "hit-answers", &[("count", FluentValue::from(3))]),
            "3 Antworten"
        );
        assert!(tr(Lang::En, "help-body", &[]).starts_with("**Search and read**"));
        assert_eq!(
            tr(
                Lang::En,
                "search-too-fast",
                &[("secs", FluentValue::from(7))]
            ),
            "You are searching quickly; try again in 7 s."
        );
    }

    #[tokio::test]
    async fn the_scope_sets_the_language_of_the_texts_built_in_it() {
        assert_eq!(current(), Lang::En);
        let inside = scope(Lang::De, async { crate::t!("button-edit") }).await;
        assert_eq!(inside, "Bearbeiten");
        assert_eq!(crate::t!("button-edit"), "Edit", "English outside a scope");
    }
}
