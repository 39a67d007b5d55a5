//! The fake site's data: users, tags, questions, answers, comments and votes, for the main site
//! and its private teams, with the site's rules for votes and accepts.
//!
//! Invariants:
//! - text is stored exactly as written (plain, never HTML-encoded); encoding happens on output;
//! - questions and answers share one post-id sequence, like the site's `Posts` table; tags and
//!   comments have their own; ids are never reused;
//! - every post belongs to one site: `team == None` is the main site, `Some(slug)` a private
//!   team; lookups through the API are scoped to the site of the request;
//! - a post's `score` always equals its seeded base score plus the votes recorded here; at most
//!   one answer per question is accepted, and `accepted_answer_id` names it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// A site user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    /// Site user id.
    pub id: i64,
    /// Network account id.
    pub account_id: i64,
    /// Display name (plain text).
    pub name: String,
    /// Reputation.
    pub reputation: i64,
    /// `Registered`, `Moderator` or `Admin`.
    pub role: String,
    /// E-mail (shown only to the user themself).
    pub email: String,
    /// Job title.
    pub job_title: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// SCIM/SAML external id.
    pub external_id: Option<String>,
}

impl FakeUser {
    /// A Gravatar identicon URL derived from the e-mail, as the site serves avatars.
    pub fn avatar_url(&self) -> String {
        let digest = Sha256::digest(self.email.trim().to_ascii_lowercase().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("https://www.gravatar.com/avatar/{hex}?s=256&d=identicon&r=PG")
    }

    /// True for moderators and admins, who may edit any post.
    pub fn is_moderator(&self) -> bool {
        self.role == "Moderator" || self.role == "Admin"
    }
}

/// A tag on one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTag {
    /// Tag id.
    pub id: i64,
    /// `None` on the main site, else the team slug.
    pub team: Option<String>,
    /// Name (lower case), e.g. `c#`.
    pub name: String,
    /// Excerpt (plain text).
    pub description: String,
    /// When it was created.
    pub creation_date: DateTime<Utc>,
    /// Watchers.
    pub watcher_count: i64,
}

/// A question, as stored (plain text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeQuestion {
    /// Post id.
    pub id: i64,
    /// `None` on the main site, else the team slug.
    pub team: Option<String>,
    /// Author.
    pub owner_id: i64,
    /// Title, exactly as written.
    pub title: String,
    /// Markdown body, exactly as written.
    pub body_markdown: String,
    /// Tag names, in order.
    pub tags: Vec<String>,
    /// Created.
    pub creation_date: DateTime<Utc>,
    /// Last edit, answer or accept.
    pub last_activity_date: DateTime<Utc>,
    /// Last edit.
    pub last_edit_date: Option<DateTime<Utc>>,
    /// Last editor.
    pub last_editor_id: Option<i64>,
    /// Upvotes minus downvotes.
    pub score: i64,
    /// Views.
    pub view_count: i64,
    /// The accepted answer, if any.
    pub accepted_answer_id: Option<i64>,
    /// Closed by a moderator.
    pub is_closed: bool,
    /// Deleted.
    pub is_deleted: bool,
}

/// An article, as stored (plain text). Articles share the post id sequence with questions
/// and answers, as on the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeArticle {
    /// Post id.
    pub id: i64,
    /// `None` on the main site, else the team slug.
    pub team: Option<String>,
    /// `ArticleType` wire value (`knowledgeArticle`, `announcement`, `policy`, `howToGuide`).
    pub article_type: String,
    /// Author.
    pub owner_id: i64,
    /// Title, exactly as written.
    pub title: String,
    /// Markdown body, exactly as written.
    pub body_markdown: String,
    /// Tag names, in order.
    pub tags: Vec<String>,
    /// Created.
    pub creation_date: DateTime<Utc>,
    /// Last edit.
    pub last_activity_date: DateTime<Utc>,
    /// Upvotes minus downvotes.
    pub score: i64,
    /// Views.
    pub view_count: i64,
    /// Deleted.
    pub is_deleted: bool,
}

/// An answer, as stored (plain text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAnswer {
    /// Post id.
    pub id: i64,
    /// The question it answers.
    pub question_id: i64,
    /// Author.
    pub owner_id: i64,
    /// Markdown body, exactly as written.
    pub body_markdown: String,
    /// Created.
    pub creation_date: DateTime<Utc>,
    /// Last edit, vote-independent activity.
    pub last_activity_date: DateTime<Utc>,
    /// Last edit.
    pub last_edit_date: Option<DateTime<Utc>>,
    /// Last editor.
    pub last_editor_id: Option<i64>,
    /// Upvotes minus downvotes.
    pub score: i64,
    /// Accepted by the question's owner.
    pub is_accepted: bool,
    /// Deleted.
    pub is_deleted: bool,
}

/// A comment on a question or an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    /// Comment id.
    pub id: i64,
    /// The question or answer it is on.
    pub post_id: i64,
    /// Author.
    pub owner_id: i64,
    /// Markdown text, exactly as written.
    pub body: String,
    /// Created.
    pub creation_date: DateTime<Utc>,
    /// Upvotes.
    pub score: i64,
}

/// A vote's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoteKind {
    /// Upvote.
    Up,
    /// Downvote.
    Down,
}

/// A user group (subject-matter experts can be named by group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUserGroup {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Member user ids.
    pub members: Vec<i64>,
}

/// A tag's subject-matter experts, as named on the site.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeExperts {
    /// Users named experts.
    pub users: Vec<i64>,
    /// User groups named experts.
    pub groups: Vec<i64>,
}

/// Why the site refused an action (becomes a 403 with this detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub String);

/// All of the site's data.
#[derive(Debug, Default)]
pub(crate) struct Store {
    users: BTreeMap<i64, FakeUser>,
    tags: Vec<FakeTag>,
    questions: BTreeMap<i64, FakeQuestion>,
    articles: BTreeMap<i64, FakeArticle>,
    answers: BTreeMap<i64, FakeAnswer>,
    comments: Vec<FakeComment>,
    /// `(post id, user id)` → vote.
    votes: HashMap<(i64, i64), VoteKind>,
    /// Private team slugs (lower case).
    teams: Vec<String>,
    /// Whether the subject-matter-expert feature is on (off: the SME route answers 422 and
    /// tags show `subjectMatterExpertCount: null`).
    smes_enabled: bool,
    /// User groups by id.
    groups: BTreeMap<i64, FakeUserGroup>,
    /// Subject-matter experts by tag id.
    experts: BTreeMap<i64, FakeExperts>,
    /// Tags each user watches: (team, user id) → tag names.
    watched: BTreeMap<(Option<String>, i64), Vec<String>>,
    next_group_id: i64,
    next_post_id: i64,
    next_tag_id: i64,
    next_comment_id: i64,
}

fn same_site(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

impl Store {
    /// An empty site.
    pub fn new() -> Self {
        Self {
            next_post_id: 1,
            next_tag_id: 1,
            next_comment_id: 1,
            next_group_id: 1,
            ..Self::default()
        }
    }

    // ----- users and teams -----

    /// Adds (or replaces) a user.
    pub fn put_user(&mut self, user: FakeUser) {
        self.users.insert(user.id, user);
    }

    /// A user by id.
    pub fn user(&self, id: i64) -> Option<&FakeUser> {
        self.users.get(&id)
    }

    /// All users, by id.
    pub fn users(&self) -> impl Iterator<Item = &FakeUser> {
        self.users.values()
    }

    /// Registers a private team.
    pub fn add_team(&mut self, slug: &str) {
        let slug = slug.to_ascii_lowercase();
        if !self.teams.contains(&slug) {
            self.teams.push(slug);
        }
    }

    /// The canonical slug of a team, if it exists (slugs match case-insensitively).
    pub fn team(&self, slug: &str) -> Option<&str> {
        self.teams
            .iter()
            .find(|t| t.eq_ignore_ascii_case(slug))
            .map(String::as_str)
    }

    // ----- subject-matter experts and watched tags -----

    /// Whether the subject-matter-expert feature is on.
    pub fn smes_enabled(&self) -> bool {
        self.smes_enabled
    }

    /// Turns the subject-matter-expert feature on.
    pub fn enable_smes(&mut self) {
        self.smes_enabled = true;
    }

    /// Creates a user group; returns its id.
    pub fn add_group(&mut self, name: &str, members: &[i64]) -> i64 {
        let id = self.next_group_id;
        self.next_group_id += 1;
        self.groups.insert(
            id,
            FakeUserGroup {
                id,
                name: name.to_string(),
                description: String::new(),
                members: members.to_vec(),
            },
        );
        id
    }

    /// A user group by id.
    pub fn group(&self, id: i64) -> Option<&FakeUserGroup> {
        self.groups.get(&id)
    }

    /// The experts named for a tag (none when none were named).
    pub fn experts_of(&self, tag: i64) -> FakeExperts {
        self.experts.get(&tag).cloned().unwrap_or_default()
    }

    /// Names `users` and `groups` experts for a tag (added to those named before).
    pub fn add_experts(&mut self, tag: i64, users: &[i64], groups: &[i64]) {
        let e = self.experts.entry(tag).or_default();
        for u in users {
            if !e.users.contains(u) {
                e.users.push(*u);
            }
        }
        for g in groups {
            if !e.groups.contains(g) {
                e.groups.push(*g);
            }
        }
    }

    /// How many distinct users are experts for a tag (named, or members of a named group).
    pub fn expert_count(&self, tag: i64) -> i64 {
        let e = self.experts_of(tag);
        let mut ids: Vec<i64> = e.users.clone();
        for g in &e.groups {
            if let Some(g) = self.groups.get(g) {
                ids.extend(&g.members);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids.len() as i64
    }

    /// The tag names `user` watches on one site.
    pub fn watched_by(&self, team: Option<&str>, user: i64) -> Vec<String> {
        self.watched
            .get(&(team.map(str::to_ascii_lowercase), user))
            .cloned()
            .unwrap_or_default()
    }

    /// `user` watches `tag` on one site (the tag is created if missing).
    pub fn watch(&mut self, team: Option<&str>, user: i64, tag: &str, now: DateTime<Utc>) {
        self.ensure_tag(team, tag, "", now);
        let list = self
            .watched
            .entry((team.map(str::to_ascii_lowercase), user))
            .or_default();
        let tag = tag.to_ascii_lowercase();
        if !list.contains(&tag) {
            list.push(tag.clone());
            if let Some(t) = self
                .tags
                .iter_mut()
                .find(|t| same_site(t.team.as_deref(), team) && t.name == tag)
            {
                t.watcher_count += 1;
            }
        }
    }

    // ----- tags -----

    /// A tag by name on one site (case-insensitive).
    pub fn tag_by_name(&self, team: Option<&str>, name: &str) -> Option<&FakeTag> {
        self.tags
            .iter()
            .find(|t| same_site(t.team.as_deref(), team) && t.name.eq_ignore_ascii_case(name))
    }

    /// A tag by id on one site.
    pub fn tag_by_id(&self, team: Option<&str>, id: i64) -> Option<&FakeTag> {
        self.tags
            .iter()
            .find(|t| t.id == id && same_site(t.team.as_deref(), team))
    }

    /// Every tag of one site.
    pub fn tags_on(&self, team: Option<&str>) -> Vec<&FakeTag> {
        self.tags
            .iter()
            .filter(|t| same_site(t.team.as_deref(), team))
            .collect()
    }

    /// Creates a tag unless it exists; returns its id.
    pub fn ensure_tag(
        &mut self,
        team: Option<&str>,
        name: &str,
        description: &str,
        now: DateTime<Utc>,
    ) -> i64 {
        if let Some(t) = self.tag_by_name(team, name) {
            return t.id;
        }
        let id = self.next_tag_id;
        self.next_tag_id += 1;
        self.tags.push(FakeTag {
            id,
            team: team.map(str::to_string),
            name: name.to_ascii_lowercase(),
            description: description.to_string(),
            creation_date: now,
            watcher_count: 0,
        });
        id
    }

    /// Questions (not deleted) on the tag's site that carry the tag.
    pub fn tag_post_count(&self, team: Option<&str>, name: &str) -> i64 {
        self.questions
            .values()
            .filter(|q| {
                !q.is_deleted
                    && same_site(q.team.as_deref(), team)
                    && q.tags.iter().any(|t| t.eq_ignore_ascii_case(name))
            })
            .count() as i64
    }

    // ----- questions and answers -----

    /// A question by id on one site (deleted ones included).
    pub fn question(&self, team: Option<&str>, id: i64) -> Option<&FakeQuestion> {
        self.questions
            .get(&id)
            .filter(|q| same_site(q.team.as_deref(), team))
    }

    /// A question by id on any site.
    pub fn question_any(&self, id: i64) -> Option<&FakeQuestion> {
        self.questions.get(&id)
    }

    /// Every question on every site, by id.
    pub fn all_questions(&self) -> impl Iterator<Item = &FakeQuestion> {
        self.questions.values()
    }

    /// The visible (not deleted) questions of one site, by id.
    pub fn questions_on(&self, team: Option<&str>) -> Vec<&FakeQuestion> {
        self.questions
            .values()
            .filter(|q| !q.is_deleted && same_site(q.team.as_deref(), team))
            .collect()
    }

    /// The visible (not deleted) articles of one site, by id.
    pub fn articles_on(&self, team: Option<&str>) -> Vec<&FakeArticle> {
        self.articles
            .values()
            .filter(|a| !a.is_deleted && same_site(a.team.as_deref(), team))
            .collect()
    }

    /// Adds a knowledge article (missing tags are created). Returns its id.
    pub fn insert_article(
        &mut self,
        team: Option<&str>,
        owner_id: i64,
        title: &str,
        body_markdown: &str,
        tags: &[&str],
        created: DateTime<Utc>,
    ) -> i64 {
        for t in tags {
            self.ensure_tag(team, t, "", created);
        }
        let id = self.next_post_id;
        self.next_post_id += 1;
        self.articles.insert(
            id,
            FakeArticle {
                id,
                team: team.map(str::to_string),
                article_type: "knowledgeArticle".into(),
                owner_id,
                title: title.to_string(),
                body_markdown: body_markdown.to_string(),
                tags: tags.iter().map(|t| t.to_ascii_lowercase()).collect(),
                creation_date: created,
                last_activity_date: created,
                score: 0,
                view_count: 0,
                is_deleted: false,
            },
        );
        id
    }

    /// An answer of a question.
    pub fn answer(&self, question_id: i64, answer_id: i64) -> Option<&FakeAnswer> {
        self.answers
            .get(&answer_id)
            .filter(|a| a.question_id == question_id)
    }

    /// The visible answers of a question, by id.
    pub fn answers_of(&self, question_id: i64) -> Vec<&FakeAnswer> {
        self.answers
            .values()
            .filter(|a| a.question_id == question_id && !a.is_deleted)
            .collect()
    }

    /// How many visible answers a question has.
    pub fn answer_count(&self, question_id: i64) -> i64 {
        self.answers_of(question_id).len() as i64
    }

    /// The site's `isAnswered`: an accepted answer or at least one answer with a positive score.
    pub fn is_answered(&self, question_id: i64) -> bool {
        self.answers_of(question_id)
            .iter()
            .any(|a| a.is_accepted || a.score > 0)
    }

    /// Comments on a post, oldest first.
    pub fn comments_on(&self, post_id: i64) -> Vec<&FakeComment> {
        let mut out: Vec<&FakeComment> = self
            .comments
            .iter()
            .filter(|c| c.post_id == post_id)
            .collect();
        out.sort_by_key(|c| (c.creation_date, c.id));
        out
    }

    /// Users mentioned as `@DisplayName` (spaces removed, case-insensitive) in Markdown.
    pub fn mentioned_users(&self, markdown: &str) -> Vec<&FakeUser> {
        let lower = markdown.to_lowercase();
        self.users
            .values()
            .filter(|u| {
                let handle: String = u.name.split_whitespace().collect::<String>().to_lowercase();
                !handle.is_empty() && lower.contains(&format!("@{handle}"))
            })
            .collect()
    }

    /// Inserts a question as given (seeding and test setup: no validation). Creates missing
    /// tags. Returns the new post id.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_question(
        &mut self,
        team: Option<&str>,
        owner_id: i64,
        title: &str,
        body_markdown: &str,
        tags: &[&str],
        created: DateTime<Utc>,
        score: i64,
        view_count: i64,
    ) -> i64 {
        for t in tags {
            self.ensure_tag(team, t, "", created);
        }
        let id = self.next_post_id;
        self.next_post_id += 1;
        self.questions.insert(
            id,
            FakeQuestion {
                id,
                team: team.map(str::to_string),
                owner_id,
                title: title.to_string(),
                body_markdown: body_markdown.to_string(),
                tags: tags.iter().map(|t| t.to_ascii_lowercase()).collect(),
                creation_date: created,
                last_activity_date: created,
                last_edit_date: None,
                last_editor_id: None,
                score,
                view_count,
                accepted_answer_id: None,
                is_closed: false,
                is_deleted: false,
            },
        );
        id
    }

    /// Replaces a question's title, body and tags (PUT is full replacement).
    pub fn update_question(
        &mut self,
        id: i64,
        editor: i64,
        title: &str,
        body_markdown: &str,
        tags: &[&str],
        now: DateTime<Utc>,
    ) {
        let team = self.questions.get(&id).and_then(|q| q.team.clone());
        for t in tags {
            self.ensure_tag(team.as_deref(), t, "", now);
        }
        if let Some(q) = self.questions.get_mut(&id) {
            q.title = title.to_string();
            q.body_markdown = body_markdown.to_string();
            q.tags = tags.iter().map(|t| t.to_ascii_lowercase()).collect();
            q.last_edit_date = Some(now);
            q.last_editor_id = Some(editor);
            q.last_activity_date = now;
        }
    }

    /// Inserts an answer as given. Returns the new post id.
    pub fn insert_answer(
        &mut self,
        question_id: i64,
        owner_id: i64,
        body_markdown: &str,
        created: DateTime<Utc>,
        score: i64,
    ) -> i64 {
        let id = self.next_post_id;
        self.next_post_id += 1;
        self.answers.insert(
            id,
            FakeAnswer {
                id,
                question_id,
                owner_id,
                body_markdown: body_markdown.to_string(),
                creation_date: created,
                last_activity_date: created,
                last_edit_date: None,
                last_editor_id: None,
                score,
                is_accepted: false,
                is_deleted: false,
            },
        );
        if let Some(q) = self.questions.get_mut(&question_id) {
            if q.last_activity_date < created {
                q.last_activity_date = created;
            }
        }
        id
    }

    /// Inserts a comment. Returns its id.
    pub fn insert_comment(
        &mut self,
        post_id: i64,
        owner_id: i64,
        body: &str,
        created: DateTime<Utc>,
        score: i64,
    ) -> i64 {
        let id = self.next_comment_id;
        self.next_comment_id += 1;
        self.comments.push(FakeComment {
            id,
            post_id,
            owner_id,
            body: body.to_string(),
            creation_date: created,
            score,
        });
        id
    }

    // ----- votes and accepts -----

    /// The user's current vote on a post.
    pub fn vote_of(&self, post_id: i64, user_id: i64) -> Option<VoteKind> {
        self.votes.get(&(post_id, user_id)).copied()
    }

    fn post_owner(&self, post_id: i64) -> Option<i64> {
        self.questions
            .get(&post_id)
            .map(|q| q.owner_id)
            .or_else(|| self.answers.get(&post_id).map(|a| a.owner_id))
    }

    fn add_score(&mut self, post_id: i64, delta: i64) {
        if let Some(q) = self.questions.get_mut(&post_id) {
            q.score += delta;
        } else if let Some(a) = self.answers.get_mut(&post_id) {
            a.score += delta;
        }
    }

    /// Casts (`undo == false`) or retracts a vote. A vote in the other direction is replaced.
    pub fn vote(
        &mut self,
        post_id: i64,
        user_id: i64,
        kind: VoteKind,
        undo: bool,
    ) -> Result<(), Refusal> {
        if self.post_owner(post_id) == Some(user_id) {
            return Err(Refusal("You can't vote for your own post.".into()));
        }
        let word = match kind {
            VoteKind::Up => "upvoted",
            VoteKind::Down => "downvoted",
        };
        let value = |k: VoteKind| if k == VoteKind::Up { 1 } else { -1 };
        let current = self.vote_of(post_id, user_id);
        if undo {
            if current != Some(kind) {
                return Err(Refusal(format!("You have not {word} this post.")));
            }
            self.votes.remove(&(post_id, user_id));
            self.add_score(post_id, -value(kind));
        } else {
            if current == Some(kind) {
                return Err(Refusal(format!("You have already {word} this post.")));
            }
            if let Some(previous) = current {
                self.add_score(post_id, -value(previous));
            }
            self.votes.insert((post_id, user_id), kind);
            self.add_score(post_id, value(kind));
        }
        Ok(())
    }

    /// Accepts an answer (unaccepting any other) or unaccepts it. Only the question's owner.
    pub fn set_accepted(
        &mut self,
        question_id: i64,
        answer_id: i64,
        user_id: i64,
        accept: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let owner = self.questions.get(&question_id).map(|q| q.owner_id);
        if owner != Some(user_id) {
            return Err(Refusal(
                "Only the person who asked the question can accept an answer.".into(),
            ));
        }
        if accept {
            for a in self.answers.values_mut() {
                if a.question_id == question_id {
                    a.is_accepted = a.id == answer_id;
                }
            }
            if let Some(q) = self.questions.get_mut(&question_id) {
                q.accepted_answer_id = Some(answer_id);
                q.last_activity_date = now;
            }
        } else {
            let accepted = self
                .answers
                .get(&answer_id)
                .map(|a| a.is_accepted)
                .unwrap_or(false);
            if !accepted {
                return Err(Refusal("This answer is not accepted.".into()));
            }
            if let Some(a) = self.answers.get_mut(&answer_id) {
                a.is_accepted = false;
            }
            if let Some(q) = self.questions.get_mut(&question_id) {
                q.accepted_answer_id = None;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
    }

    fn store() -> (Store, i64, i64) {
        let mut s = Store::new();
        let q = s.insert_question(None, 1, "A question title", "body", &["Rust"], now(), 0, 0);
        let a = s.insert_answer(q, 2, "an answer", now(), 0);
        (s, q, a)
    }

    #[test]
    fn posts_share_one_id_sequence_and_tags_are_lower_case() {
        let (s, q, a) = store();
        assert_eq!((q, a), (1, 2));
        assert_eq!(
            s.tag_by_name(None, "RUST").map(|t| t.name.as_str()),
            Some("rust")
        );
        assert_eq!(s.tag_post_count(None, "rust"), 1);
    }

    #[test]
    fn votes_adjust_scores_and_refuse_repeats_and_own_posts() {
        let (mut s, q, a) = store();
        assert!(s.vote(q, 1, VoteKind::Up, false).is_err(), "own post");
        assert!(s.vote(a, 1, VoteKind::Up, false).is_ok());
        assert_eq!(s.answer(q, a).map(|a| a.score), Some(1));
        assert!(s.is_answered(q));
        assert!(s.vote(a, 1, VoteKind::Up, false).is_err(), "twice");
        assert!(s.vote(a, 1, VoteKind::Down, false).is_ok(), "switch");
        assert_eq!(s.answer(q, a).map(|a| a.score), Some(-1));
        assert!(
            s.vote(a, 1, VoteKind::Up, true).is_err(),
            "undo a vote not cast"
        );
        assert!(s.vote(a, 1, VoteKind::Down, true).is_ok());
        assert_eq!(s.answer(q, a).map(|a| a.score), Some(0));
    }

    #[test]
    fn accepting_moves_the_mark() {
        let (mut s, q, a) = store();
        let b = s.insert_answer(q, 3, "another answer", now(), 0);
        assert!(
            s.set_accepted(q, a, 2, true, now()).is_err(),
            "not the owner"
        );
        assert!(s.set_accepted(q, a, 1, true, now()).is_ok());
        assert!(s.set_accepted(q, b, 1, true, now()).is_ok());
        assert_eq!(s.answer(q, a).map(|a| a.is_accepted), Some(false));
        assert_eq!(s.answer(q, b).map(|a| a.is_accepted), Some(true));
        assert_eq!(
            s.question(None, q).and_then(|q| q.accepted_answer_id),
            Some(b)
        );
        assert!(
            s.set_accepted(q, a, 1, false, now()).is_err(),
            "not accepted"
        );
    }

    #[test]
    fn sites_are_separate() {
        let mut s = Store::new();
        s.add_team("platform");
        let t = s.insert_question(
            Some("platform"),
            1,
            "Team question",
            "b",
            &["x"],
            now(),
            0,
            0,
        );
        assert!(s.question(None, t).is_none());
        assert!(s.question(Some("PLATFORM"), t).is_some());
        assert!(s.tag_by_name(None, "x").is_none());
        assert_eq!(s.team("Platform"), Some("platform"));
    }
}
