# soe-bot's messages in English: the default, and the fallback for every other language.
# Ids are grouped by where they are used. A line of a multi-line message that would start
# with "*", "[" or "." starts with a placeable instead ({"*"}), as Fluent requires.

## Command names and the help

command-ask-on = Ask on { $site }
command-ask-fallback = Ask as a question
command-post-as-answer = Post as answer
help-title = soe-bot for { $site }
help-body =
    {"*"}*Search and read** (uses the bot's read-only access)
    `/so search query:<words> [tag] [sort]`: top results, privately; open one from the menu, page with Prev/Next, then Share to channel.
    `/so question id:<title, id or link>`: a question with its top answers (start typing its title).

    {"*"}*Ask, answer, vote, accept** (as yourself)
    `/so ask [title] [tags]`: a form for your question; similar questions are shown first.
    `/so answer question:<title, id or link>`: a form for your answer.
    Buttons under a question: Upvote, Downvote, Answer, Accept (if you asked it).
    Message menu (⋯ → Apps): **{ $ask }**, **{ $answer }** (pick the question by its title, or use it on a reply to a question card). On someone else's message, its author is asked first, and it is posted as them only if they accept.
    After you post from a channel, **Post a card in the channel** tells it (admins turn that off per channel with `/so-admin channel cards`).
    Message menu **{ $save }**: a solved thread becomes a question (its first message) and its answer (a reply you choose), each posted as its author once they agree.

    {"*"}*Alerts** (DMs)
    `/so alerts on [tags]`: answers to your questions (Accept right from the DM) and new questions in your watched tags. `/so alerts off`: none, not even for questions asked here.
    `/so experts on|off`: unanswered questions in tags you are a subject-matter expert for.

    {"*"}*Your account**
    `/so link`: link your { $site } account. You sign in on the site and approve; the bot keeps your token encrypted and only uses it for what you do here. Posts are credited to you, never to a bot account.
    `/so me`: what is linked, its access and expiry. `/so unlink`: forget your token and drafts.

    If you write a question before linking, it is kept and posted as you once you link.

## Linking

button-link-account = Link account
button-link-again = Link again
link-intro = Link your { $site } account so what you post from Discord is credited to you. The button works once, for 15 minutes, and only for you: don't share it. You'll sign in on the site, approve access, { $discord ->
        [yes] let Discord confirm it is you,{" "}
       *[no] {""}
    }and confirm.
link-already = You are already linked to **{ $name }** on { $site }; `/so me` shows its access and expiry. Link again only to switch accounts or renew access: the new link replaces this one when you confirm it.
link-too-many = You asked for several link buttons in a short time; try again in { $secs } s. The last button you got still works for 15 minutes after it was made.
link-needed = To { $doing }, link your { $site } account first so it is credited to you.
link-expired = Your { $site } link has expired or was revoked. Link your account again to { $doing }.
link-read-only = Your linked account has read-only access, so the bot cannot { $doing } for you. Link again and grant write access.
link-no-team-grant = Your link was made without access to the private team `{ $team }` this bot works in, so the site would refuse to let you { $doing } there. Link again: the site will ask you to allow the team too.
doing-post-question = post your question
doing-post-answer = post your answer
doing-post-it = post it
doing-vote = vote
doing-accept = accept answers
me-not-linked = You have not linked an account. Link one to ask, answer and vote as yourself.
write-token-rejected = { $site } rejected your token: it has expired or was revoked. Link your account again with `/so link`.
linked-in-place = Linked as **{ $name }** on { $site }
linked-not-you = . Not you? Run `/so unlink`.
linked-draft-posted = {" "}· your draft was posted: { $url }
linked-drafts-posted = {" "}· your drafts were posted: { $list }
linked-dm = Your Discord account is now linked to **{ $name }** on { $site }. Questions and answers you post from Discord are credited to that account. Not you? Run `/so unlink`.

## Errors and refusals members commonly see

error-unknown-command = Unknown command. Try `/so help`.
error-old-button = This button is from an older version of the bot. Run the command again.
error-old-form = This form is from an older version of the bot. Run the command again.
error-old-menu = This menu is from an older version of the bot. Run the command again.
error-choose-listed = Choose one of the listed items.
error-store = The bot could not read or save its data, so nothing was done. Try again in a minute; if it keeps failing, tell an admin (ref { $reference }).
error-read-access = The bot's read access to { $site } is broken, so it cannot look this up; an admin has been told. Try again later (ref { $reference }).
error-site-unreachable = { $site } is not reachable right now. Try again in a minute.
error-too-fast = You are going too fast: the bot reads the site for everyone through one shared allowance, and each member gets a part of it; try again in { $secs } s.
channel-off-elsewhere = soe-bot is turned off in this channel. Use it in another channel of this server.
channel-off-use = soe-bot is turned off in this channel. Use it in { $channels }.
share-no-permission-channel = You don't have permission to send messages in this channel, so the bot will not post there for you. Share it where you can post, or ask a moderator.
share-no-permission-thread = You don't have permission to send messages in this thread, so the bot will not post there for you. Share it where you can post, or ask a moderator.
share-paced = Sharing is paced so a channel is not flooded: each member can share once every { $member } s, and each channel takes one share every { $channel } s. Nothing was posted; try again in { $secs } s.

## Search results

search-need-query = Add what to search for, e.g. `/so search query: tokio timeout`.
search-tag-too-long = Tags are at most { $max } characters; pick one from the suggestions, or search without `tag`.
search-too-fast = You are searching quickly; try again in { $secs } s.
search-expired = These results have expired (searches are kept for a day). Run `/so search` again.
search-none = No results on { $site } for `{ $label }`. Try fewer or other words, or ask it with `/so ask`.
search-no-more = No more results.
search-title = Search: { $label }
search-footer = Page { $page } of { $pages } · { $total ->
        [one] { $total } result
       *[other] { $total } results
    } · { $site }
search-shared-by = Shared by { $name } · { $site }
search-open-result = Open a result…
button-prev = ◀ Prev
button-next = Next ▶
button-share = Share to channel
button-back-to-results = ◀ Back to the results
hit-answers = { $count ->
        [one] { $count } answer
       *[other] { $count } answers
    }
hit-answer = answer
hit-an-answer = an answer
hit-article = article
hit-score = score { $score }

## Posting

reply-sent-as-dm = Discord did not take this reply where you asked, so it comes here:
button-retry = Retry
button-edit = Edit
button-discard = Discard
button-post = Post
button-post-anyway = Post anyway
button-one-answers-it = One of these answers it
button-discard-draft = Discard draft
button-view-on-site = View on site
button-post-card = Post a card in the channel
posted-as = Posted as *{ $who }* on { $site }: { $url }
posted-already = Already posted as *{ $who }*: { $url }
posted-after-link = Your saved draft was posted.
not-posted =
    Not posted: { $why }
    Your draft is kept.
not-posted-maybe =
    Not posted: { $why } It may have been posted anyway: check the site before retrying.
    Your draft is kept.
question-not-ready =
    Your question is not ready yet (it is saved; press Edit to fix it):
    { $problems }
answer-not-ready =
    Your answer is not ready yet (it is saved; press Edit to fix it):
    { $problems }
similar-first =
    Before posting, do any of these already answer it?
    { $list }

    Your question is saved; post it if none of them helps.
draft-kept-for-link = Your text is saved (for { $hours } hours) and will be posted as you as soon as you finish linking.

## Post as answer: choosing the question

pick-recent = Which question does this answer? Pick one shown in this channel lately, or search the site for it.
pick-none-recent = Which question does this answer? No questions were shown in this channel lately: search the site for it.
pick-question-n = Question { $n }
pick-placeholder = Choose the question…
button-find-question = Search for the question…
button-cancel = Cancel
pick-draft-gone = This answer is no longer saved (it was posted, discarded or expired). Use Post as answer on the message again.
pick-not-an-answer = That draft is a question, not an answer; nothing was changed.
find-title = Find the question
find-words = Words from its title
find-placeholder = e.g. tokio timeout abort
find-too-short = Type at least { $n } characters of the question's title.
find-none = No questions on { $site } match `{ $words }`. Try other words from its title.
find-found = Questions on { $site } matching `{ $words }`: pick the one this answers.

## Someone else's message: the author's consent

consent-what-question = as a question on { $site }
consent-what-answer = on { $site } as an answer to [{ $title }]({ $url })
consent-question-n = question { $n }
consent-prompt = { $author }, { $proposer } would like to post your message above { $what }, under your name. It is posted only if you accept, through your own link, and you can review it first. If you decline or do not answer within { $minutes } minutes, { $proposer } may post it as themself, quoting you.
consent-declined = { $author } declined to have their message posted under their name. { $proposer } may post it as themself, quoting them.
button-consent-accept = Accept and review
button-consent-decline = Decline
button-consent-quoted = Asker: post it quoted instead
consent-not-a-proposal = That is not a request about someone else's message; nothing was asked.
consent-already-asked = The author was already asked: the request is under their message.
consent-expired = This request has expired or was withdrawn, so nothing will be posted.
consent-author-only = Only { $author } can answer this: it is about their message.
consent-posted-quoted = { $proposer } already posted your message as themself, quoting you.
consent-you-declined = You declined this request. To post your message yourself, use the message menu (⋯ → Apps) on it.
consent-no-question = This answer has no question yet; nothing can be posted.
consent-already-yours = You already posted it as yourself; there is nothing to decline.
consent-accepted-theirs = { $author } accepted, so the message is theirs to post; nothing was posted as you.
consent-not-asked = The author has not been asked yet: choose the question first.
consent-still-waiting = { $author } can still answer, until { $until }. If they decline or do not answer by then, you may post it as yourself, quoted.
consent-proposer-only = Only { $proposer }, who asked, can post it quoted. To post it yourself, use the message menu (⋯ → Apps) on the message.

## Save thread: the forum-post button, and writes interrupted midway

button-save-thread = Save thread to { $site }
save-button-elsewhere = This button saves the forum post it was shown in; use it there, or use **Save thread** on a message of the thread you mean.
save-cards-off = An admin turned the bot's cards off here (`/so-admin channel cards`), and saving a thread ends with a card in it, so nothing was saved. Ask an admin to turn cards on for this channel.
save-what-question = the question
save-what-answer = the answer
save-what-acceptance = the acceptance of the answer
save-not-confirmed = { $site } did not answer in time, so { $what } may or may not have been posted. Nothing is posted twice: the bot looks on the site before trying again, within a few minutes.
save-cannot-check = Posting { $what } was interrupted, and the bot cannot check the site right now ({ $why }). Nothing was posted again, so nothing appears twice; the bot looks again within a few minutes.
save-recovered = Save thread **{ $thread }**: the bot was interrupted while saving it and picked it up again, looking on { $site } first, so nothing was posted twice.

## Save thread: the flow (choosing, consents, progress, the thread's card)

save-not-in-thread = Use **Save thread** on a message inside a thread or forum post: its first message becomes the question and a reply you choose the answer.
save-cannot-read-threads = The bot cannot read threads here.
save-thread-unreadable = The bot could not read this thread (it needs View Channel and Read Message History in it). Try again, or ask an admin to check its permissions with `/so-admin doctor`.
save-no-starter = This thread's first message is gone, so there is no question to save.
save-no-replies = This thread has no reply yet to save as the answer. Once someone answers, run **Save thread** again.
save-choose-answer = Save **{ $thread }** to { $site }: the first message, by **{ $author }**, becomes the question. Which reply answers it? Each author is asked before anything is posted in their name.
save-answer-placeholder = The reply that answers the question
save-no-message-content = The bot cannot read this thread's replies: Discord sends them without their text because the bot's **Message Content** intent is off. Ask an admin to turn it on (Discord Developer Portal → the bot's application → Bot → Privileged Gateway Intents → Message Content Intent), then try again. Nothing was saved.
save-lapsed = This save is over (it lapsed after two days). Run **Save thread** again.
save-invoker-only-choose = Only the member who started this save can choose its answer.
save-modal-title = Save to { $site }
save-field-title = Question title
save-field-tags = Tags (1–5, comma separated)
save-invoker-only-confirm = Only the member who started this save can confirm it.
save-already-confirmed = This save was already confirmed; its authors have been asked.
save-thread-unreadable-again = The bot could not read the thread again; try once more.
save-message-deleted = The first message or the chosen reply was deleted meanwhile. Run **Save thread** again.
save-problem-question = (the first message) { $problem }
save-problem-answer = (the chosen reply) { $problem }
save-not-saved = { $problems } Nothing was saved; choose again to fix the title or tags.
save-consent-question = would like to save the thread **{ $thread }** to { $site } and post your first message as a question **under your { $site } account**:
save-consent-answer = would like to save the thread **{ $thread }** to { $site } and post your reply as the answer **under your { $site } account**:
save-button-post-as-me = Post as me
save-button-post-and-accept = Post as me and accept the answer
save-consent-link-first = To agree, link your { $site } account first (`/so link`).
save-asked-no-dm = **{ $author }** (could not be reached by DM: they can't agree, so nothing of theirs will be posted unless you post it as yourself)
save-saving = Saving.
save-asked = Asked { $authors } to agree (within { $hours } hours); you'll get a DM when it's done.
save-asked-both = { $first } and { $second }
save-only-author = Only { $author } can answer this.
save-link-first = To have it posted as you, link your { $site } account first, then press the button again (within { $hours } hours).
save-no-such-part = This save has no such part.
save-already-answered = This request was already answered or has lapsed ({ $decision }).
save-consent-thanks = Thanks, it will be posted as you.
save-consent-declined = Declined: nothing of yours will be posted.
save-invoker-only-do = Only the member who started this save can do that.
save-part-posted = That part is already on the site.
save-not-refused-yet = { $author } has not refused yet ({ $decision }); it can be posted as you only after they decline or the { $hours } hours pass.
save-question-first = Post the question first: the answer needs it.
save-posted-as-you = Posted as you.
save-ended = Save thread **{ $thread }**:
save-question-posted = Question posted as **{ $name }**: { $url }
save-question-refused = The question's author **{ $author }** { $decision }: nothing was posted in their name.
save-waiting-question = Waiting for **{ $author }** (the question).
save-answer-posted = Answer posted as **{ $name }**: { $url }
save-answer-posted-accepted = Answer posted as **{ $name }** and accepted ✓: { $url }
save-answer-refused = The answer's author **{ $author }** { $decision }: nothing was posted in their name.
save-waiting-answer = Waiting for **{ $author }** (the answer).
save-button-question-as-me = Post the question as me
save-button-answer-as-me = Post the answer as me
save-text-lapsed = The saved text has lapsed (two days). Run **Save thread** again.
save-doing-as-you = post it as you
save-doing-as-author = post it as { $author }
save-author-no-link = **{ $author }** agreed but has no usable link, so nothing was posted in their name yet: { $why }
save-question-not-posted = The question is not posted yet.
save-already-posting = Already posting that; look at the thread in a moment.
save-already-posted = Already posted: { $outcome }
save-question-failed = The question could not be posted: { $why }
save-answer-failed = The answer could not be posted: { $why }
save-accept-no-link = The answer could not be accepted: the question's author has no usable link.
save-accepting = Accepting the answer…
save-accept-not-recorded = The bot could not record the acceptance ({ $error }).
save-accept-failed = The answer could not be accepted: { $why }
save-card = Saved to { $site } from this thread: { $by }.
save-card-by-question = question by **{ $question }**
save-card-by-both = question by **{ $question }**, answer by **{ $answer }**
save-card-by-both-accepted = question by **{ $question }**, answer by **{ $answer }** ✓

## Save thread: an author's consent (the DM asking them)

consent-lapses = Nothing is posted without your answer; after { $hours } hours this request lapses.
consent-state-pending = not answered yet
consent-state-agreed = agreed
consent-state-declined = declined
consent-state-expired = did not answer within { $hours } hours

## Command registration: descriptions and choices (at most 100 characters each)

reg-so = Search, read, ask and answer on { $site }
reg-search = Search questions and answers (only you see the results)
reg-search-query = What to search for
reg-search-tag = Only results with this tag
reg-search-sort = Order of the results
reg-sort-relevance = relevance
reg-sort-newest = newest
reg-sort-active = active
reg-sort-score = score
reg-question = Show a question and its top answers
reg-question-ref = Start typing its title, or paste its number or link
reg-ask = Ask a question, posted as you
reg-ask-title = The question's title
reg-tags = Tags, separated by spaces
reg-answer = Answer a question, posted as you
reg-link = Link your { $site } account so posts are credited to you
reg-unlink = Forget your { $site } token and drafts
reg-me = Show the linked account, its access and expiry
reg-alerts = DMs about answers to your questions and new questions in your tags
reg-alerts-on = Answers to all your questions, and new questions in your watched tags
reg-alerts-tags = These tags instead of your watched tags
reg-alerts-off = No alerts at all
reg-experts = DMs when a question in a tag you are an expert for stays unanswered
reg-experts-on = Send me unanswered questions in my expert tags
reg-experts-off = Stop sending them
reg-help = How to use the bot
reg-channel-default-here = The channel (default: this one)
reg-admin = Configure the bot for this server (Manage Server)
reg-admin-channel = Where the bot answers, and how
reg-admin-enable = Let the bot answer in a channel
reg-admin-disable = Stop the bot answering in a channel
reg-admin-team = Bind a channel to a private team (leave slug out to unbind)
reg-admin-team-slug = The team's slug, as in https://SITE/c/<slug>
reg-admin-cards = Offer members a public card in a channel after they post from it (default on)
reg-admin-cards-state = on: offer the card after a post; off: keep posts private
reg-state-on = on
reg-state-off = off
reg-admin-cards-channel = The channel (default: this one); its threads and posts follow it
reg-admin-tags = Default tags when asking from a channel (leave tags out to clear)
reg-subscribe = Post new site activity with these tags into a channel
reg-subscribe-tags = Tags, separated by commas or spaces (up to 10)
reg-subscribe-channel = Where the cards go (default: this channel)
reg-subscribe-match = Any of the tags (default) or all of them
reg-match-any = any
reg-match-all = all
reg-subscribe-exclude = Never post items with these tags
reg-subscribe-events = questions, answers, accepted, articles (comma separated; default questions)
reg-subscribe-unanswered = Post questions only once unanswered this long, e.g. 4h or 2d
reg-subscribe-threads = Start a thread on each question card in this channel (default off)
reg-subscribe-cap = Cards per hour in this channel before the rest fold into a digest (default 20)
reg-subscriptions = List the subscription rules, with last post and last error
reg-subscriptions-channel = Only this channel's rules
reg-unsubscribe = Remove a subscription rule
reg-preview = How many cards a rule would have posted in the last 7 days
reg-rule = The rule's number (see /so-admin subscriptions)
reg-doctor = Check the bot's permissions, the site, the service token; post a test card
reg-audit-channel = Where configuration changes and posts made through the bot are reported
reg-audit-off = Turn the audit channel off
