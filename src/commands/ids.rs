//! Custom ids of buttons and modals: the state a component carries back.
//!
//! Format: `so:<verb>:<fields…>`, at most 100 characters, free text last. Ids are parsed
//! strictly; anything unknown is `None` (an old or forged button gets a polite reply, not a
//! panic). Nothing secret is ever put in an id: draft ids are random handles that only work
//! for their owner.

use crate::soe::{SearchSort, Vote};

/// A component's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// Search results page (0-based).
    SearchPage {
        /// Page.
        page: u32,
        /// Sort.
        sort: SearchSort,
        /// Tag filter.
        tag: Option<String>,
        /// Query.
        query: String,
    },
    /// Post a search results page to the channel.
    ShareSearch {
        /// Page.
        page: u32,
        /// Sort.
        sort: SearchSort,
        /// Tag filter.
        tag: Option<String>,
        /// Query.
        query: String,
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
    },
    /// Vote on an answer.
    VoteAnswer {
        /// Question id.
        question: i64,
        /// Answer id.
        answer: i64,
        /// Up or down.
        vote: Vote,
    },
    /// Accept an answer.
    Accept {
        /// Question id.
        question: i64,
        /// Answer id.
        answer: i64,
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
    },
    /// The answer modal.
    AnswerModal {
        /// Question id.
        question: i64,
        /// Draft id.
        draft: String,
    },
    /// The "Post as answer" modal (question chosen in the modal).
    PostAsAnswerModal {
        /// Draft id.
        draft: String,
    },
}

fn sort_code(s: SearchSort) -> &'static str {
    match s {
        SearchSort::Relevance => "r",
        SearchSort::Newest => "n",
        SearchSort::Active => "a",
        SearchSort::Score => "s",
    }
}

fn parse_sort(s: &str) -> Option<SearchSort> {
    Some(match s {
        "r" => SearchSort::Relevance,
        "n" => SearchSort::Newest,
        "a" => SearchSort::Active,
        "s" => SearchSort::Score,
        _ => return None,
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

/// Longest query a search button can carry.
pub const MAX_QUERY_IN_ID: usize = 60;

impl Id {
    /// Encodes the id (≤ 100 characters; long queries are cut on a character boundary).
    pub fn encode(&self) -> String {
        let search =
            |verb: &str, page: &u32, sort: &SearchSort, tag: &Option<String>, query: &str| {
                let q: String = query.chars().take(MAX_QUERY_IN_ID).collect();
                format!(
                    "so:{verb}:{page}:{}:{}:{q}",
                    sort_code(*sort),
                    tag.as_deref().unwrap_or("")
                )
            };
        let s = match self {
            Id::SearchPage {
                page,
                sort,
                tag,
                query,
            } => search("sr", page, sort, tag, query),
            Id::ShareSearch {
                page,
                sort,
                tag,
                query,
            } => search("sh", page, sort, tag, query),
            Id::OpenQuestion { question } => format!("so:q:{question}"),
            Id::ShareQuestion { question } => format!("so:qs:{question}"),
            Id::VoteQuestion { question, vote } => format!("so:vq:{question}:{}", vote_code(*vote)),
            Id::VoteAnswer {
                question,
                answer,
                vote,
            } => format!("so:va:{question}:{answer}:{}", vote_code(*vote)),
            Id::Accept { question, answer } => format!("so:ac:{question}:{answer}"),
            Id::OpenAnswer { question } => format!("so:an:{question}"),
            Id::PostDraft { draft } => format!("so:dp:{draft}"),
            Id::EditDraft { draft } => format!("so:de:{draft}"),
            Id::DiscardDraft { draft } => format!("so:dx:{draft}"),
            Id::Link => "so:link".into(),
            Id::AskModal { draft } => format!("so:m:ask:{draft}"),
            Id::AnswerModal { question, draft } => format!("so:m:ans:{question}:{draft}"),
            Id::PostAsAnswerModal { draft } => format!("so:m:paa:{draft}"),
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
        "sr" | "sh" => {
            let mut it = args.splitn(4, ':');
            let page = it.next()?.parse::<u32>().ok().filter(|p| *p < 1000)?;
            let sort = parse_sort(it.next()?)?;
            let tag = it.next()?;
            let tag = (!tag.is_empty()).then(|| tag.to_string());
            let query = it.next()?.to_string();
            if verb == "sr" {
                Id::SearchPage {
                    page,
                    sort,
                    tag,
                    query,
                }
            } else {
                Id::ShareSearch {
                    page,
                    sort,
                    tag,
                    query,
                }
            }
        }
        "q" => Id::OpenQuestion {
            question: int(args)?,
        },
        "qs" => Id::ShareQuestion {
            question: int(args)?,
        },
        "vq" => {
            let (q, v) = args.split_once(':')?;
            Id::VoteQuestion {
                question: int(q)?,
                vote: parse_vote(v)?,
            }
        }
        "va" => {
            let mut it = args.split(':');
            let (q, a, v) = (it.next()?, it.next()?, it.next()?);
            Id::VoteAnswer {
                question: int(q)?,
                answer: int(a)?,
                vote: parse_vote(v)?,
            }
        }
        "ac" => {
            let (q, a) = args.split_once(':')?;
            Id::Accept {
                question: int(q)?,
                answer: int(a)?,
            }
        }
        "an" => Id::OpenAnswer {
            question: int(args)?,
        },
        "dp" => Id::PostDraft {
            draft: handle(args)?,
        },
        "de" => Id::EditDraft {
            draft: handle(args)?,
        },
        "dx" => Id::DiscardDraft {
            draft: handle(args)?,
        },
        "link" if args.is_empty() => Id::Link,
        "m" => {
            let (kind, rest) = args.split_once(':')?;
            match kind {
                "ask" => Id::AskModal {
                    draft: handle(rest)?,
                },
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
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// A fresh random draft id (16 base64url characters, 96 bits).
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
                sort: SearchSort::Score,
                tag: Some("c#".into()),
                query: "async: rust".into(),
            },
            Id::ShareSearch {
                page: 0,
                sort: SearchSort::Relevance,
                tag: None,
                query: "x".into(),
            },
            Id::OpenQuestion { question: 3 },
            Id::ShareQuestion { question: 3 },
            Id::VoteQuestion {
                question: 3,
                vote: Vote::Down,
            },
            Id::VoteAnswer {
                question: 3,
                answer: 9,
                vote: Vote::Up,
            },
            Id::Accept {
                question: 3,
                answer: 9,
            },
            Id::OpenAnswer { question: 3 },
            Id::PostDraft { draft: d.clone() },
            Id::EditDraft { draft: d.clone() },
            Id::DiscardDraft { draft: d.clone() },
            Id::Link,
            Id::AskModal { draft: d.clone() },
            Id::AnswerModal {
                question: 4,
                draft: d.clone(),
            },
            Id::PostAsAnswerModal { draft: d },
        ];
        for id in ids {
            let s = id.encode();
            assert!(s.len() <= 100);
            assert_eq!(parse(&s), Some(id), "{s}");
        }
    }

    #[test]
    fn long_queries_fit_and_garbage_is_refused() {
        let id = Id::SearchPage {
            page: 1,
            sort: SearchSort::Relevance,
            tag: None,
            query: "é".repeat(200),
        };
        assert!(id.encode().chars().count() <= 100);
        for bad in [
            "",
            "so:",
            "so:q:abc",
            "so:q:-1",
            "so:vq:3:x",
            "so:dp:../../etc",
            "other:q:1",
            "so:m:ask:",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
