//! What a use case answers: a transport-independent [`Reply`].
//!
//! Adapters turn it into Discord JSON (`discord/`) or console text (`console/`). Invariants:
//! every text is already within Discord's limits (the builders here truncate on character
//! boundaries with "…"); mentions are never allowed (adapters send `allowed_mentions` empty);
//! custom ids are at most 100 characters.

use serde::Serialize;

/// Discord's limits, in characters.
pub mod limits {
    /// Message content.
    pub const CONTENT: usize = 2000;
    /// Embed title.
    pub const EMBED_TITLE: usize = 256;
    /// Embed description.
    pub const EMBED_DESCRIPTION: usize = 4096;
    /// Fields per embed.
    pub const EMBED_FIELDS: usize = 25;
    /// Field name.
    pub const FIELD_NAME: usize = 256;
    /// Field value.
    pub const FIELD_VALUE: usize = 1024;
    /// Footer text.
    pub const FOOTER: usize = 2048;
    /// All embeds of one message together.
    pub const EMBEDS_TOTAL: usize = 6000;
    /// Embeds per message.
    pub const EMBEDS_PER_MESSAGE: usize = 10;
    /// One modal text input's value.
    pub const MODAL_FIELD: usize = 4000;
    /// Modal title.
    pub const MODAL_TITLE: usize = 45;
    /// Text input label.
    pub const INPUT_LABEL: usize = 45;
    /// Button label.
    pub const BUTTON_LABEL: usize = 80;
    /// Custom id.
    pub const CUSTOM_ID: usize = 100;
    /// Select option label/description.
    pub const SELECT_TEXT: usize = 100;
    /// Select placeholder.
    pub const SELECT_PLACEHOLDER: usize = 150;
    /// Options per select.
    pub const SELECT_OPTIONS: usize = 25;
    /// Autocomplete choices.
    pub const CHOICES: usize = 25;
    /// An autocomplete choice's name or value.
    pub const CHOICES_TEXT: usize = 100;
    /// Components per action row.
    pub const ROW_ITEMS: usize = 5;
    /// Action rows per message.
    pub const ROWS: usize = 5;
}

/// Cuts `s` to at most `max` characters, ending with "…" when cut. Never splits a character.
pub fn truncate(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    if s.chars().count() <= max {
        return s.to_string();
    }
    let prefix = |n: usize| &s[..s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)];
    let fences_open = |t: &str| t.matches("```").count() % 2 == 1;
    let first = prefix(max - 1);
    if !fences_open(first) {
        return format!("{first}…");
    }
    // Cutting inside a code block: make room to close it so the rest of the message renders.
    let shorter = prefix(max.saturating_sub(5));
    if fences_open(shorter) {
        format!("{shorter}\n```…")
    } else {
        format!("{shorter}…")
    }
}

/// How the reply is delivered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ReplyKind {
    /// A new message (the interaction's response).
    Message,
    /// Edit the message whose component was used.
    Update,
    /// Open a modal.
    Modal(Modal),
    /// Autocomplete choices.
    Choices(Vec<Choice>),
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// Delivery.
    pub kind: ReplyKind,
    /// Text content (≤ 2,000).
    pub content: String,
    /// Embeds (≤ 10, ≤ 6,000 characters together).
    pub embeds: Vec<Embed>,
    /// Action rows (≤ 5 of ≤ 5 components).
    pub rows: Vec<Vec<Component>>,
    /// Only the invoker sees it.
    pub ephemeral: bool,
    /// A public message that should reply to this message of the channel (the card about a
    /// question asked from that message); adapters that cannot reply just post it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
}

impl Reply {
    /// An ephemeral text reply.
    pub fn private(text: impl AsRef<str>) -> Self {
        Self {
            kind: ReplyKind::Message,
            content: truncate(text.as_ref(), limits::CONTENT),
            embeds: vec![],
            rows: vec![],
            ephemeral: true,
            reply_to: None,
        }
    }

    /// A public text reply.
    pub fn public(text: impl AsRef<str>) -> Self {
        Self {
            ephemeral: false,
            ..Self::private(text)
        }
    }

    /// An edit of the message the component was on.
    pub fn update(text: impl AsRef<str>) -> Self {
        Self {
            kind: ReplyKind::Update,
            ..Self::private(text)
        }
    }

    /// A modal.
    pub fn modal(modal: Modal) -> Self {
        Self {
            kind: ReplyKind::Modal(modal),
            ..Self::private("")
        }
    }

    /// Autocomplete choices (≤ 25).
    pub fn choices(mut choices: Vec<Choice>) -> Self {
        choices.truncate(limits::CHOICES);
        Self {
            kind: ReplyKind::Choices(choices),
            ..Self::private("")
        }
    }

    /// Adds an embed, keeping the message within the embed limits (an embed that would push
    /// the total past 6,000 characters is shortened, or dropped if nothing fits).
    pub fn with_embed(mut self, embed: Embed) -> Self {
        if self.embeds.len() >= limits::EMBEDS_PER_MESSAGE {
            return self;
        }
        let used: usize = self.embeds.iter().map(Embed::char_len).sum();
        let budget = limits::EMBEDS_TOTAL.saturating_sub(used);
        if let Some(e) = embed.fit(budget) {
            self.embeds.push(e);
        }
        self
    }

    /// Adds a row of components (≤ 5 rows, ≤ 5 per row; a select fills its row alone, and a
    /// select without options is dropped).
    pub fn with_row(mut self, mut row: Vec<Component>) -> Self {
        row.retain(|c| !matches!(c, Component::Select { options, .. } if options.is_empty()));
        if let Some(i) = row
            .iter()
            .position(|c| matches!(c, Component::Select { .. }))
        {
            row = vec![row.swap_remove(i)];
        }
        row.truncate(limits::ROW_ITEMS);
        if !row.is_empty() && self.rows.len() < limits::ROWS {
            self.rows.push(row);
        }
        self
    }

    /// Makes it visible to the channel.
    pub fn into_public(mut self) -> Self {
        self.ephemeral = false;
        self
    }

    /// Turns it into an edit of the component's message.
    pub fn into_update(mut self) -> Self {
        self.kind = ReplyKind::Update;
        self
    }

    /// Every component in the reply (for tests and for the console's numbering).
    pub fn buttons(&self) -> Vec<&Component> {
        self.rows.iter().flatten().collect()
    }

    /// The select whose choices include one labelled with `text` (case-insensitive), with
    /// that choice's value (for tests and the console's `choose`).
    pub fn choice(&self, text: &str) -> Option<(&str, &str)> {
        let wanted = text.to_lowercase();
        self.buttons().into_iter().find_map(|c| match c {
            Component::Select { id, options, .. } => options
                .iter()
                .find(|o| o.label.to_lowercase().contains(&wanted))
                .map(|o| (id.as_str(), o.value.as_str())),
            _ => None,
        })
    }
}

/// An embed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Embed {
    /// Title (≤ 256).
    pub title: String,
    /// Title link.
    pub url: Option<String>,
    /// Body (≤ 4,096), Discord Markdown.
    pub description: String,
    /// Inline facts (≤ 25).
    pub fields: Vec<Field>,
    /// Footer (≤ 2,048).
    pub footer: Option<String>,
    /// Side colour.
    pub color: Option<u32>,
}

/// An embed field.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Field {
    /// Name (≤ 256).
    pub name: String,
    /// Value (≤ 1,024).
    pub value: String,
    /// Shown side by side.
    pub inline: bool,
}

impl Embed {
    /// An embed with a title and description, truncated to the limits.
    pub fn new(title: &str, description: &str) -> Self {
        Self {
            title: truncate(title, limits::EMBED_TITLE),
            description: truncate(description, limits::EMBED_DESCRIPTION),
            ..Default::default()
        }
    }

    /// Sets the title link.
    pub fn url(mut self, url: Option<String>) -> Self {
        self.url = url;
        self
    }

    /// Adds a field (ignored past 25; empty values become "–").
    pub fn field(mut self, name: &str, value: &str, inline: bool) -> Self {
        if self.fields.len() < limits::EMBED_FIELDS {
            let value = if value.trim().is_empty() {
                "–"
            } else {
                value
            };
            self.fields.push(Field {
                name: truncate(name, limits::FIELD_NAME),
                value: truncate(value, limits::FIELD_VALUE),
                inline,
            });
        }
        self
    }

    /// Sets the footer.
    pub fn footer(mut self, text: &str) -> Self {
        self.footer = Some(truncate(text, limits::FOOTER));
        self
    }

    /// Sets the colour.
    pub fn color(mut self, rgb: u32) -> Self {
        self.color = Some(rgb);
        self
    }

    /// Characters counted toward the 6,000 total.
    pub fn char_len(&self) -> usize {
        self.title.chars().count()
            + self.description.chars().count()
            + self.footer.as_deref().map_or(0, |f| f.chars().count())
            + self
                .fields
                .iter()
                .map(|f| f.name.chars().count() + f.value.chars().count())
                .sum::<usize>()
    }

    /// Shrinks the description (then drops fields) to fit `budget` characters.
    fn fit(mut self, budget: usize) -> Option<Self> {
        if self.char_len() <= budget {
            return Some(self);
        }
        let others = self.char_len() - self.description.chars().count();
        if others < budget {
            self.description = truncate(&self.description, budget - others);
            return Some(self);
        }
        self.description.clear();
        while self.char_len() > budget && self.fields.pop().is_some() {}
        (self.char_len() <= budget && !self.title.is_empty()).then_some(self)
    }
}

/// Button colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    /// Blurple.
    Primary,
    /// Grey.
    Secondary,
    /// Green.
    Success,
    /// Red.
    Danger,
}

/// A message component.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Component {
    /// A button that sends an interaction with `id`.
    Button {
        /// Custom id (≤ 100).
        id: String,
        /// Label (≤ 80).
        label: String,
        /// Colour.
        style: ButtonStyle,
        /// Greyed out.
        disabled: bool,
    },
    /// A button that opens a URL.
    Link {
        /// The URL.
        url: String,
        /// Label.
        label: String,
    },
    /// A string select menu (one choice): it fills a row on its own.
    Select {
        /// Custom id (≤ 100); the choice comes back with it.
        id: String,
        /// Shown before a choice (≤ 150).
        placeholder: String,
        /// The choices (1–25).
        options: Vec<SelectOption>,
    },
}

/// One choice of a select menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SelectOption {
    /// Shown (≤ 100).
    pub label: String,
    /// Sent back (≤ 100).
    pub value: String,
    /// Shown under the label (≤ 100).
    pub description: Option<String>,
}

impl SelectOption {
    /// A choice; texts are cut to Discord's 100 characters.
    pub fn new(label: &str, value: &str, description: Option<&str>) -> Self {
        Self {
            label: truncate(label, limits::SELECT_TEXT),
            value: value.chars().take(limits::SELECT_TEXT).collect(),
            description: description
                .filter(|d| !d.trim().is_empty())
                .map(|d| truncate(d, limits::SELECT_TEXT)),
        }
    }
}

impl Component {
    /// A button.
    pub fn button(id: impl Into<String>, label: &str, style: ButtonStyle) -> Self {
        let id: String = id.into();
        Component::Button {
            id: id.chars().take(limits::CUSTOM_ID).collect(),
            label: truncate(label, limits::BUTTON_LABEL),
            style,
            disabled: false,
        }
    }

    /// A select menu of `options` (at most 25 kept).
    pub fn select(
        id: impl Into<String>,
        placeholder: &str,
        mut options: Vec<SelectOption>,
    ) -> Self {
        let id: String = id.into();
        options.truncate(limits::SELECT_OPTIONS);
        Component::Select {
            id: id.chars().take(limits::CUSTOM_ID).collect(),
            placeholder: truncate(placeholder, limits::SELECT_PLACEHOLDER),
            options,
        }
    }

    /// A link button.
    pub fn link(url: impl Into<String>, label: &str) -> Self {
        Component::Link {
            url: url.into(),
            label: truncate(label, limits::BUTTON_LABEL),
        }
    }

    /// Greys a button out (or back in); links cannot be.
    pub fn disabled(mut self, off: bool) -> Self {
        if let Component::Button { disabled, .. } = &mut self {
            *disabled = off;
        }
        self
    }

    /// The custom id of a button or select, if it is one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Component::Button { id, .. } | Component::Select { id, .. } => Some(id),
            Component::Link { .. } => None,
        }
    }

    /// The label (a select's placeholder).
    pub fn label(&self) -> &str {
        match self {
            Component::Button { label, .. } | Component::Link { label, .. } => label,
            Component::Select { placeholder, .. } => placeholder,
        }
    }
}

/// A modal dialog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Modal {
    /// Custom id (≤ 100); the submit carries it back.
    pub id: String,
    /// Title (≤ 45).
    pub title: String,
    /// Text inputs (≤ 5).
    pub inputs: Vec<TextInput>,
}

/// A modal text input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextInput {
    /// Custom id.
    pub id: String,
    /// Label (≤ 45).
    pub label: String,
    /// Multi-line.
    pub paragraph: bool,
    /// Pre-filled value (≤ 4,000).
    pub value: Option<String>,
    /// Placeholder.
    pub placeholder: Option<String>,
    /// Minimum length (Discord enforces it).
    pub min_length: Option<u16>,
    /// Maximum length (≤ 4,000).
    pub max_length: Option<u16>,
    /// Must be filled.
    pub required: bool,
}

impl TextInput {
    /// A text input; the value is cut to 4,000 characters.
    pub fn new(id: &str, label: &str, paragraph: bool) -> Self {
        Self {
            id: id.into(),
            label: truncate(label, limits::INPUT_LABEL),
            paragraph,
            value: None,
            placeholder: None,
            min_length: None,
            max_length: None,
            required: true,
        }
    }

    /// Pre-fills it.
    pub fn value(mut self, v: Option<&str>) -> Self {
        self.value = v
            .filter(|v| !v.is_empty())
            .map(|v| truncate(v, self.max_length.map_or(limits::MODAL_FIELD, usize::from)));
        self
    }

    /// Sets the placeholder.
    pub fn placeholder(mut self, p: &str) -> Self {
        self.placeholder = Some(truncate(p, 100));
        self
    }

    /// Sets length bounds.
    pub fn length(mut self, min: u16, max: u16) -> Self {
        self.min_length = Some(min);
        self.max_length = Some(max.min(limits::MODAL_FIELD as u16));
        self
    }

    /// Makes it optional.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

/// An autocomplete choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// Shown (≤ 100).
    pub name: String,
    /// Sent back (≤ 100).
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("🦀🦀🦀🦀", 3).chars().count(), 3);
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn truncate_never_leaves_an_open_fence() {
        let s = format!("intro\n```rust\n{}\n```", "x".repeat(100));
        let t = truncate(&s, 40);
        assert_eq!(t.matches("```").count() % 2, 0, "{t}");
        assert!(t.chars().count() <= 40);
    }

    #[test]
    fn embeds_stay_within_the_total() {
        let mut r = Reply::private("");
        for _ in 0..5 {
            r = r.with_embed(Embed::new("t", &"d".repeat(4096)));
        }
        let total: usize = r.embeds.iter().map(Embed::char_len).sum();
        assert!(total <= limits::EMBEDS_TOTAL, "{total}");
        assert!(r.embeds.len() >= 2);
    }

    proptest::proptest! {
        #[test]
        fn truncate_is_bounded(s in "\\PC{0,300}", max in 1usize..200) {
            let t = truncate(&s, max);
            proptest::prop_assert!(t.chars().count() <= max);
            if s.chars().count() <= max { proptest::prop_assert_eq!(t, s); }
        }
    }
}
