//! Custom ids of buttons and modals: the state a component carries back.
//!
//! Format: `so:<verb>:<fields…>`, at most 100 characters. Ids carry numbers and random
//! handles only, never free text: a search's query and tag live in the store under a handle
//! (see `search`), so nothing is ever cut to fit. Ids are parsed strictly; anything unknown is
//! `None` (an old or forged button gets a polite reply, not a panic). Nothing secret is ever
//! put in an id: draft and search handles only work for their owner.

use crate::soe::Vote;

/// A component's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// Search results page (0-based) of a saved search.
    SearchPage {
        /// Page.
        page: u32,
        /// The member's saved search (a handle into the store: the query, tag and sort).
        search: String,
    },
    /// Post a search results page to the channel.
    ShareSearch {
        /// Page.
        page: u32,
        /// The member's saved search.
        search: String,
    },
    /// The results select of a saved search: the chosen question replaces the results, with
    /// a Back to page `page`.
    PickResult {
        /// The results page the select was on (Back returns to it).
        page: u32,
        /// The member's saved search.
        search: String,
    },
    /// The answers select of a question card: the chosen answer, with its votes and Accept.
    PickAnswer {
        /// Question id.
        question: i64,
        /// The message the select is on (a shared card answers privately).
        on: Surface,
    },
    /// Show a question in place of the message (Back from an answer).
    QuestionInPlace {
        /// Question id.
        question: i64,
    },
    /// Show a question privately.
    OpenQuestion {
        /// Question id.
        question: i64,
    },
    /// Post a question card to the channel.
    ShareQuestion {
        /// Question id.
        question: i64,
    },
    /// Vote on a question.
    VoteQuestion {
        /// Question id.
        question: i64,
        /// Up or down.
        vote: Vote,
        /// The message the button is on (what the press updates).
        on: Surface,
    },
    /// Vote on an answer.
    VoteAnswer {
        /// Question id.
        question: i64,
        /// Answer id.
        answer: i64,
        /// Up or down.
        vote: Vote,
        /// The message the button is on.
        on: Surface,
    },
    /// Accept an answer.
    Accept {
        /// Question id.
        question: i64,
        /// Answer id.
        answer: i64,
        /// The message the button is on.
        on: Surface,
    },
    /// Open the answer modal for a question.
    OpenAnswer {
        /// Question id.
        question: i64,
    },
    /// Post (or retry posting) a saved draft.
    PostDraft {
        /// Draft id.
        draft: String,
    },
    /// Post a public card about a posted draft in the channel it was written in.
    AnnouncePost {
        /// Draft id (its record holds what was posted, where, and as whom).
        draft: String,
    },
    /// Reopen a draft in its modal.
    EditDraft {
        /// Draft id.
        draft: String,
    },
    /// Forget a draft.
    DiscardDraft {
        /// Draft id.
        draft: String,
    },
    /// Start linking (a fresh ticket per press).
    Link,
    /// The ask modal.
    AskModal {
        /// Draft id minted when the modal opened.
        draft: String,
        /// The message it was opened from ("Ask on …"), if any.
        source: Option<u64>,
    },
    /// The answer modal.
    AnswerModal {
        /// Question id.
        question: i64,
        /// Draft id.
        draft: String,
    },
    /// The "Post as answer" modal of earlier versions (question typed in the modal); only
    /// its submissions are still handled.
    PostAsAnswerModal {
        /// Draft id.
        draft: String,
    },
    /// The question picker of "Post as answer": the chosen question (the select's value)
    /// becomes the question the saved answer draft answers.
    PickQuestion {
        /// The answer draft (its body is the message's text).
        draft: String,
        /// Whether the message is someone else's: choosing asks its author's consent
        /// (a public prompt) instead of opening the answer form.
        consent: bool,
    },
    /// "Search for the question…" on the picker: opens [`Id::FindQuestionModal`].
    FindQuestion {
        /// The answer draft.
        draft: String,
        /// As in [`Id::PickQuestion`].
        consent: bool,
    },
    /// The search form of the picker: its words search the site, and the results come back
    /// as a new picker.
    FindQuestionModal {
        /// The answer draft.
        draft: String,
        /// As in [`Id::PickQuestion`].
        consent: bool,
    },
    /// The author accepts that their message be posted as theirs (opens the form for them).
    ConsentAccept {
        /// Who asked (the proposal is their draft).
        proposer: u64,
        /// The proposal draft.
        draft: String,
    },
    /// The author declines.
    ConsentDecline {
        /// Who asked.
        proposer: u64,
        /// The proposal draft.
        draft: String,
    },
    /// The proposer posts the message as themself, quoted and attributed (after a decline, or
    /// once the author let the wait pass).
    PostQuoted {
        /// Who asked (only they may press it).
        proposer: u64,
        /// The proposal draft.
        draft: String,
    },
    /// Save thread: the select of the reply that answers the question.
    SaveAnswer {
        /// The save's handle.
        save: String,
    },
    /// Save thread: the form confirming the title and tags.
    SaveModal {
        /// The save's handle.
        save: String,
        /// The chosen reply's message id.
        answer: u64,
    },
    /// Save thread: an author's answer to the consent prompt.
    Consent {
        /// The save's handle.
        save: String,
        /// Which message is theirs.
        part: SavePart,
        /// What they answered.
        choice: ConsentChoice,
    },
    /// Save thread: the invoker posts a refused part as themself, credited to its author.
    SaveAsMe {
        /// The save's handle.
        save: String,
        /// Which part.
        part: SavePart,
    },
    /// "Save thread to …" on a reply in a forum post: starts the save of that post, as the
    /// message command does on its starter message.
    SaveThread {
        /// The forum post (a thread; its starter message has the same id).
        thread: u64,
    },
}

/// The question or the answer of a thread save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavePart {
    /// The thread's first message.
    Question,
    /// The chosen reply.
    Answer,
}

impl SavePart {
    /// Its code in ids and claim keys.
    pub fn code(self) -> &'static str {
        match self {
            SavePart::Question => "q",
            SavePart::Answer => "a",
        }
    }

    /// For people.
    pub fn noun(self) -> &'static str {
        match self {
            SavePart::Question => "question",
            SavePart::Answer => "answer",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "q" => SavePart::Question,
            "a" => SavePart::Answer,
            _ => return None,
        })
    }
}

/// An author's answer to a consent prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChoice {
    /// Post it as me.
    Yes,
    /// Post it as me and grant the extra (accept the answer).
    Extra,
    /// Decline.
    No,
}

/// The kind of message a vote or accept button is on, so the press updates the right thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Surface {
    /// The member's private question card: re-rendered in place with the new score and an
    /// Undo.
    #[default]
    Card,
    /// A card shared publicly: everyone sees it, so the member is answered privately.
    Shared,
    /// A private confirmation ("You upvoted …"): its text and Undo are updated in place.
    Note,
    /// A direct message the bot sent on its own (a personal alert): answered privately, the
    /// DM itself is left as it was.
    Dm,
}

fn surface_suffix(on: Surface) -> &'static str {
    match on {
        Surface::Card => "",
        Surface::Shared => ":s",
        Surface::Note => ":n",
        Surface::Dm => ":m",
    }
}

fn parse_surface(s: Option<&str>) -> Option<Surface> {
    Some(match s {
        None => Surface::Card,
        Some("s") => Surface::Shared,
        Some("n") => Surface::Note,
        Some("m") => Surface::Dm,
        Some(_) => return None,
    })
}

fn vote_code(v: Vote) -> &'static str {
    match v {
        Vote::Up => "u",
        Vote::Down => "d",
        Vote::UndoUp => "uu",
        Vote::UndoDown => "ud",
    }
}

fn parse_vote(s: &str) -> Option<Vote> {
    Some(match s {
        "u" => Vote::Up,
        "d" => Vote::Down,
        "uu" => Vote::UndoUp,
        "ud" => Vote::UndoDown,
        _ => return None,
    })
}

fn valid_handle(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Id {
    /// Encodes the id (≤ 100 characters: numbers and handles of at most 43 characters).
    pub fn encode(&self) -> String {
        let s = match self {
            Id::SearchPage { page, search } => format!("so:sr:{page}:{search}"),
            Id::ShareSearch { page, search } => format!("so:sh:{page}:{search}"),
            Id::PickResult { page, search } => format!("so:pk:{page}:{search}"),
            Id::PickAnswer { question, on } => format!("so:pa:{question}{}", surface_suffix(*on)),
            Id::QuestionInPlace { question } => format!("so:qb:{question}"),
            Id::OpenQuestion { question } => format!("so:q:{question}"),
            Id::ShareQuestion { question } => format!("so:qs:{question}"),
            Id::VoteQuestion { question, vote, on } => format!(
                "so:vq:{question}:{}{}",
                vote_code(*vote),
                surface_suffix(*on)
            ),
            Id::VoteAnswer {
                question,
                answer,
                vote,
                on,
            } => format!(
                "so:va:{question}:{answer}:{}{}",
                vote_code(*vote),
                surface_suffix(*on)
            ),
            Id::Accept {
                question,
                answer,
                on,
            } => format!("so:ac:{question}:{answer}{}", surface_suffix(*on)),
            Id::OpenAnswer { question } => format!("so:an:{question}"),
            Id::PostDraft { draft } => format!("so:dp:{draft}"),
            Id::AnnouncePost { draft } => format!("so:ap:{draft}"),
            Id::EditDraft { draft } => format!("so:de:{draft}"),
            Id::DiscardDraft { draft } => format!("so:dx:{draft}"),
            Id::Link => "so:link".into(),
            Id::AskModal {
                draft,
                source: None,
            } => format!("so:m:ask:{draft}"),
            Id::AskModal {
                draft,
                source: Some(m),
            } => format!("so:m:ask:{draft}:{m}"),
            Id::AnswerModal { question, draft } => format!("so:m:ans:{question}:{draft}"),
            Id::PostAsAnswerModal { draft } => format!("so:m:paa:{draft}"),
            Id::PickQuestion { draft, consent } => {
                format!("so:pq{}:{draft}", if *consent { "c" } else { "" })
            }
            Id::FindQuestion { draft, consent } => {
                format!("so:fq{}:{draft}", if *consent { "c" } else { "" })
            }
            Id::FindQuestionModal { draft, consent } => {
                format!("so:m:fq{}:{draft}", if *consent { "c" } else { "" })
            }
            Id::ConsentAccept { proposer, draft } => format!("so:cy:{proposer}:{draft}"),
            Id::ConsentDecline { proposer, draft } => format!("so:cn:{proposer}:{draft}"),
            Id::PostQuoted { proposer, draft } => format!("so:cq:{proposer}:{draft}"),
            Id::SaveAnswer { save } => format!("so:tsa:{save}"),
            Id::SaveModal { save, answer } => format!("so:m:ts:{save}:{answer}"),
            Id::Consent { save, part, choice } => format!(
                "so:cs:{save}:{}:{}",
                part.code(),
                match choice {
                    ConsentChoice::Yes => "y",
                    ConsentChoice::Extra => "x",
                    ConsentChoice::No => "n",
                }
            ),
            Id::SaveAsMe { save, part } => format!("so:tm:{save}:{}", part.code()),
            Id::SaveThread { thread } => format!("so:tsb:{thread}"),
        };
        s.chars().take(super::reply::limits::CUSTOM_ID).collect()
    }
}

/// Parses a custom id.
pub fn parse(s: &str) -> Option<Id> {
    let rest = s.strip_prefix("so:")?;
    let (verb, args) = rest.split_once(':').unwrap_or((rest, ""));
    let int = |x: &str| x.parse::<i64>().ok().filter(|n| *n > 0);
    let handle = |x: &str| valid_handle(x).then(|| x.to_string());
    Some(match verb {
        "sr" | "sh" | "pk" => {
            let (page, search) = args.split_once(':')?;
            let page = page.parse::<u32>().ok().filter(|p| *p < 1000)?;
            let search = handle(search)?;
            match verb {
                "sr" => Id::SearchPage { page, search },
                "sh" => Id::ShareSearch { page, search },
                _ => Id::PickResult { page, search },
            }
        }
        "pa" => {
            let mut it = args.split(':');
            let q = it.next()?;
            let on = parse_surface(it.next())?;
            if it.next().is_some() {
                return None;
            }
            Id::PickAnswer {
                question: int(q)?,
                on,
            }
        }
        "qb" => Id::QuestionInPlace {
            question: int(args)?,
        },
        "q" => Id::OpenQuestion {
            question: int(args)?,
        },
        "qs" => Id::ShareQuestion {
            question: int(args)?,
        },
        "vq" => {
            let mut it = args.split(':');
            let (q, v) = (it.next()?, it.next()?);
            let on = parse_surface(it.next())?;
            if it.next().is_some() {
                return None;
            }
            Id::VoteQuestion {
                question: int(q)?,
                vote: parse_vote(v)?,
                on,
            }
        }
        "va" => {
            let mut it = args.split(':');
            let (q, a, v) = (it.next()?, it.next()?, it.next()?);
            let on = parse_surface(it.next())?;
            if it.next().is_some() {
                return None;
            }
            Id::VoteAnswer {
                question: int(q)?,
                answer: int(a)?,
                vote: parse_vote(v)?,
                on,
            }
        }
        "ac" => {
            let mut it = args.split(':');
            let (q, a) = (it.next()?, it.next()?);
            let on = parse_surface(it.next())?;
            if it.next().is_some() {
                return None;
            }
            Id::Accept {
                question: int(q)?,
                answer: int(a)?,
                on,
            }
        }
        "an" => Id::OpenAnswer {
            question: int(args)?,
        },
        "dp" => Id::PostDraft {
            draft: handle(args)?,
        },
        "ap" => Id::AnnouncePost {
            draft: handle(args)?,
        },
        "de" => Id::EditDraft {
            draft: handle(args)?,
        },
        "dx" => Id::DiscardDraft {
            draft: handle(args)?,
        },
        "link" if args.is_empty() => Id::Link,
        "pq" | "pqc" => Id::PickQuestion {
            draft: handle(args)?,
            consent: verb == "pqc",
        },
        "fq" | "fqc" => Id::FindQuestion {
            draft: handle(args)?,
            consent: verb == "fqc",
        },
        "cy" | "cn" | "cq" => {
            let (who, draft) = args.split_once(':')?;
            let proposer = who.parse::<u64>().ok().filter(|u| *u > 0)?;
            let draft = handle(draft)?;
            match verb {
                "cy" => Id::ConsentAccept { proposer, draft },
                "cn" => Id::ConsentDecline { proposer, draft },
                _ => Id::PostQuoted { proposer, draft },
            }
        }
        "tsa" => Id::SaveAnswer {
            save: handle(args)?,
        },
        "tsb" => Id::SaveThread {
            thread: args.parse::<u64>().ok().filter(|t| *t > 0)?,
        },
        "cs" => {
            let mut it = args.split(':');
            let (save, part, choice) = (it.next()?, it.next()?, it.next()?);
            if it.next().is_some() {
                return None;
            }
            Id::Consent {
                save: handle(save)?,
                part: SavePart::parse(part)?,
                choice: match choice {
                    "y" => ConsentChoice::Yes,
                    "x" => ConsentChoice::Extra,
                    "n" => ConsentChoice::No,
                    _ => return None,
                },
            }
        }
        "tm" => {
            let (save, part) = args.split_once(':')?;
            Id::SaveAsMe {
                save: handle(save)?,
                part: SavePart::parse(part)?,
            }
        }
        "m" => {
            let (kind, rest) = args.split_once(':')?;
            match kind {
                "ask" => {
                    let (draft, source) = match rest.split_once(':') {
                        Some((d, m)) => (d, Some(m.parse::<u64>().ok().filter(|m| *m > 0)?)),
                        None => (rest, None),
                    };
                    Id::AskModal {
                        draft: handle(draft)?,
                        source,
                    }
                }
                "ans" => {
                    let (q, d) = rest.split_once(':')?;
                    Id::AnswerModal {
                        question: int(q)?,
                        draft: handle(d)?,
                    }
                }
                "paa" => Id::PostAsAnswerModal {
                    draft: handle(rest)?,
                },
                "fq" | "fqc" => Id::FindQuestionModal {
                    draft: handle(rest)?,
                    consent: kind == "fqc",
                },
                "ts" => {
                    let (save, answer) = rest.split_once(':')?;
                    Id::SaveModal {
                        save: handle(save)?,
                        answer: answer.parse::<u64>().ok().filter(|a| *a > 0)?,
                    }
                }
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A fresh random handle for a draft or a saved search (16 base64url characters, 96 bits).
pub fn new_draft_id() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_round_trips() {
        let d = new_draft_id();
        let ids = [
            Id::SearchPage {
                page: 2,
                search: d.clone(),
            },
            Id::ShareSearch {
                page: 0,
                search: d.clone(),
            },
            Id::PickResult {
                page: 1,
                search: d.clone(),
            },
            Id::PickAnswer {
                question: 3,
                on: Surface::Card,
            },
            Id::PickAnswer {
                question: 3,
                on: Surface::Shared,
            },
            Id::QuestionInPlace { question: 3 },
            Id::OpenQuestion { question: 3 },
            Id::ShareQuestion { question: 3 },
            Id::VoteQuestion {
                question: 3,
                vote: Vote::Down,
                on: Surface::Card,
            },
            Id::VoteQuestion {
                question: 3,
                vote: Vote::UndoUp,
                on: Surface::Note,
            },
            Id::VoteAnswer {
                question: 3,
                answer: 9,
                vote: Vote::Up,
                on: Surface::Shared,
            },
            Id::Accept {
                question: 3,
                answer: 9,
                on: Surface::Card,
            },
            Id::Accept {
                question: 3,
                answer: 9,
                on: Surface::Shared,
            },
            Id::OpenAnswer { question: 3 },
            Id::PostDraft { draft: d.clone() },
            Id::EditDraft { draft: d.clone() },
            Id::AnnouncePost { draft: d.clone() },
            Id::DiscardDraft { draft: d.clone() },
            Id::Link,
            Id::AskModal {
                draft: d.clone(),
                source: None,
            },
            Id::AskModal {
                draft: d.clone(),
                source: Some(1_200_000_000_000_000_000),
            },
            Id::AnswerModal {
                question: 4,
                draft: d.clone(),
            },
            Id::PostAsAnswerModal { draft: d.clone() },
            Id::PickQuestion {
                draft: d.clone(),
                consent: false,
            },
            Id::PickQuestion {
                draft: d.clone(),
                consent: true,
            },
            Id::FindQuestion {
                draft: d.clone(),
                consent: true,
            },
            Id::FindQuestionModal {
                draft: d.clone(),
                consent: false,
            },
            Id::FindQuestionModal {
                draft: d.clone(),
                consent: true,
            },
            Id::ConsentAccept {
                proposer: 1_200_000_000_000_000_000,
                draft: d.clone(),
            },
            Id::ConsentDecline {
                proposer: 5,
                draft: d.clone(),
            },
            Id::PostQuoted {
                proposer: u64::MAX,
                draft: d.clone(),
            },
            Id::SaveAnswer { save: d.clone() },
            Id::SaveModal {
                save: d.clone(),
                answer: 1_200_000_000_000_000_000,
            },
            Id::Consent {
                save: d.clone(),
                part: SavePart::Question,
                choice: ConsentChoice::Extra,
            },
            Id::Consent {
                save: d.clone(),
                part: SavePart::Answer,
                choice: ConsentChoice::No,
            },
            Id::SaveAsMe {
                save: d,
                part: SavePart::Answer,
            },
            Id::SaveThread {
                thread: 1_200_000_000_000_000_000,
            },
            Id::SaveThread { thread: u64::MAX },
        ];
        for id in ids {
            let s = id.encode();
            assert!(s.len() <= 100);
            assert_eq!(parse(&s), Some(id), "{s}");
        }
    }

    #[test]
    fn the_forum_post_save_button_round_trips() {
        let id = Id::SaveThread {
            thread: 1_300_000_000_000_000_042,
        };
        let s = id.encode();
        assert_eq!(s, "so:tsb:1300000000000000042");
        assert_eq!(parse(&s), Some(id));
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "so:sr:0:r::async",
            "so:sr:1000:abc",
            "so:sh:1:",
            "so:sr:x:abc",
            "",
            "so:",
            "so:q:abc",
            "so:q:-1",
            "so:vq:3:x",
            "so:vq:3:u:x",
            "so:vq:3:u:s:s",
            "so:dp:../../etc",
            "other:q:1",
            "so:m:ask:",
            "so:pq:",
            "so:pqx:abc",
            "so:cy:abc",
            "so:cy:0:abc",
            "so:cn:-3:abc",
            "so:cq:5:a/b",
            "so:m:fq:",
            "so:tsb:",
            "so:tsb:0",
            "so:tsb:-4",
            "so:tsb:12:3",
            "so:tsb:abc",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
