# soe-bot's messages in German. Every id of en.ftl is here too (a test checks it); Discord
# shows these to members whose Discord language is German.

## Command names and the help

command-ask-on = Auf { $site } fragen
command-ask-fallback = Als Frage stellen
command-post-as-answer = Als Antwort posten
help-title = soe-bot für { $site }
help-body =
    {"*"}*Suchen und lesen** (mit dem Lesezugriff des Bots)
    `/so search query:<Wörter> [tag] [sort]`: die besten Treffer, nur für dich; einen im Menü öffnen, mit Zurück/Weiter blättern, dann In den Kanal teilen.
    `/so question id:<Titel, Nummer oder Link>`: eine Frage mit ihren besten Antworten (tippe den Anfang ihres Titels).

    {"*"}*Fragen, antworten, abstimmen, akzeptieren** (als du selbst)
    `/so ask [title] [tags]`: ein Formular für deine Frage; ähnliche Fragen werden zuerst gezeigt.
    `/so answer question:<Titel, Nummer oder Link>`: ein Formular für deine Antwort.
    Schaltflächen unter einer Frage: Upvote, Downvote, Antworten, Akzeptieren (wenn du sie gestellt hast).
    Nachrichtenmenü (⋯ → Apps): **{ $ask }**, **{ $answer }** (wähle die Frage über ihren Titel, oder nutze es auf einer Antwort auf eine Fragekarte). Bei der Nachricht einer anderen Person wird zuerst sie gefragt, und nur wenn sie zustimmt, wird in ihrem Namen gepostet.
    Nachdem du aus einem Kanal gepostet hast, zeigt **Karte im Kanal posten** es dort (Admins schalten das pro Kanal mit `/so-admin channel cards` ab).
    Nachrichtenmenü **{ $save }**: ein gelöster Thread wird zur Frage (seine erste Nachricht) und zur Antwort (eine Antwort, die du wählst), jeweils im Namen ihrer Verfasser, sobald sie zustimmen.

    {"*"}*Benachrichtigungen** (DMs)
    `/so alerts on [tags]`: Antworten auf deine Fragen (Akzeptieren direkt aus der DM) und neue Fragen in deinen beobachteten Tags. `/so alerts off`: keine, auch nicht für hier gestellte Fragen.
    `/so experts on|off`: unbeantwortete Fragen in Tags, für die du Fachexperte bist.

    {"*"}*Dein Konto**
    `/so link`: verknüpfe dein Konto auf { $site }. Du meldest dich auf der Seite an und stimmst zu; der Bot speichert dein Token verschlüsselt und nutzt es nur für das, was du hier tust. Beiträge werden dir zugeschrieben, nie einem Bot-Konto.
    `/so me`: was verknüpft ist, mit Zugriff und Ablauf. `/so unlink`: dein Token und deine Entwürfe vergessen.

    Schreibst du eine Frage, bevor du verknüpft hast, wird sie aufbewahrt und in deinem Namen gepostet, sobald du verknüpfst.

## Linking

button-link-account = Konto verknüpfen
button-link-again = Erneut verknüpfen
link-intro = Verknüpfe dein Konto auf { $site }, damit dir zugeschrieben wird, was du aus Discord postest. Die Schaltfläche funktioniert einmal, 15 Minuten lang, und nur für dich: gib sie nicht weiter. Du meldest dich auf der Seite an, erlaubst den Zugriff, { $discord ->
        [yes] lässt Discord bestätigen, dass du es bist,{" "}
       *[no] {""}
    }und bestätigst.
link-already = Du bist bereits mit **{ $name }** auf { $site } verknüpft; `/so me` zeigt Zugriff und Ablauf. Verknüpfe nur erneut, um das Konto zu wechseln oder den Zugriff zu erneuern: die neue Verknüpfung ersetzt diese, sobald du sie bestätigst.
link-too-many = Du hast in kurzer Zeit mehrere Verknüpfungs-Schaltflächen angefordert; versuche es in { $secs } s erneut. Die letzte Schaltfläche funktioniert noch 15 Minuten nach ihrer Erstellung.
link-needed = Um { $doing }, verknüpfe zuerst dein Konto auf { $site }, damit es dir zugeschrieben wird.
link-expired = Deine Verknüpfung mit { $site } ist abgelaufen oder wurde widerrufen. Verknüpfe dein Konto erneut, um { $doing }.
link-read-only = Dein verknüpftes Konto hat nur Lesezugriff, daher ist es dem Bot nicht möglich, für dich { $doing }. Verknüpfe es erneut und erlaube Schreibzugriff.
link-no-team-grant = Deine Verknüpfung wurde ohne Zugriff auf das private Team `{ $team }` erstellt, in dem dieser Bot arbeitet; die Seite würde es daher ablehnen, dort { $doing }. Verknüpfe erneut: die Seite fragt dann auch nach dem Team.
doing-post-question = deine Frage zu posten
doing-post-answer = deine Antwort zu posten
doing-post-it = es zu posten
doing-vote = abzustimmen
doing-accept = Antworten zu akzeptieren
me-not-linked = Du hast kein Konto verknüpft. Verknüpfe eines, um in deinem Namen zu fragen, zu antworten und abzustimmen.
write-token-rejected = { $site } hat dein Token abgelehnt: es ist abgelaufen oder wurde widerrufen. Verknüpfe dein Konto erneut mit `/so link`.
linked-in-place = Verknüpft als **{ $name }** auf { $site }
linked-not-you = . Nicht du? Führe `/so unlink` aus.
linked-draft-posted = {" "}· dein Entwurf wurde gepostet: { $url }
linked-drafts-posted = {" "}· deine Entwürfe wurden gepostet: { $list }
linked-dm = Dein Discord-Konto ist jetzt mit **{ $name }** auf { $site } verknüpft. Fragen und Antworten, die du aus Discord postest, werden diesem Konto zugeschrieben. Nicht du? Führe `/so unlink` aus.

## Errors and refusals members commonly see

error-unknown-command = Unbekannter Befehl. Versuche `/so help`.
error-old-button = Diese Schaltfläche stammt aus einer älteren Version des Bots. Führe den Befehl erneut aus.
error-old-form = Dieses Formular stammt aus einer älteren Version des Bots. Führe den Befehl erneut aus.
error-old-menu = Dieses Menü stammt aus einer älteren Version des Bots. Führe den Befehl erneut aus.
error-choose-listed = Wähle einen der aufgeführten Einträge.
error-store = Der Bot konnte seine Daten nicht lesen oder speichern, daher ist nichts geschehen. Versuche es in einer Minute erneut; wenn es weiter fehlschlägt, sag einem Admin Bescheid (Ref. { $reference }).
error-read-access = Der Lesezugriff des Bots auf { $site } funktioniert nicht, daher kann er das nicht nachschlagen; ein Admin wurde informiert. Versuche es später erneut (Ref. { $reference }).
error-site-unreachable = { $site } ist gerade nicht erreichbar. Versuche es in einer Minute erneut.
error-too-fast = Du bist zu schnell: der Bot liest die Seite für alle über ein gemeinsames Kontingent, und jedes Mitglied bekommt einen Teil davon; versuche es in { $secs } s erneut.
channel-off-elsewhere = soe-bot ist in diesem Kanal ausgeschaltet. Nutze ihn in einem anderen Kanal dieses Servers.
channel-off-use = soe-bot ist in diesem Kanal ausgeschaltet. Nutze ihn in { $channels }.
share-no-permission-channel = Du darfst in diesem Kanal keine Nachrichten senden, daher postet der Bot dort nicht für dich. Teile es dort, wo du posten kannst, oder frag eine Moderation.
share-no-permission-thread = Du darfst in diesem Thread keine Nachrichten senden, daher postet der Bot dort nicht für dich. Teile es dort, wo du posten kannst, oder frag eine Moderation.
share-paced = Teilen ist gebremst, damit kein Kanal überflutet wird: jedes Mitglied kann alle { $member } s einmal teilen, und jeder Kanal nimmt alle { $channel } s eine Freigabe an. Es wurde nichts gepostet; versuche es in { $secs } s erneut.

## Search results

search-need-query = Gib an, wonach gesucht werden soll, z. B. `/so search query: tokio timeout`.
search-tag-too-long = Tags haben höchstens { $max } Zeichen; wähle einen aus den Vorschlägen, oder suche ohne `tag`.
search-too-fast = Du suchst sehr schnell; versuche es in { $secs } s erneut.
search-expired = Diese Ergebnisse sind abgelaufen (Suchen werden einen Tag aufbewahrt). Führe `/so search` erneut aus.
search-none = Keine Treffer auf { $site } für `{ $label }`. Versuche weniger oder andere Wörter, oder frag es mit `/so ask`.
search-no-more = Keine weiteren Treffer.
search-title = Suche: { $label }
search-footer = Seite { $page } von { $pages } · { $total ->
        [one] { $total } Treffer
       *[other] { $total } Treffer
    } · { $site }
search-shared-by = Geteilt von { $name } · { $site }
search-open-result = Einen Treffer öffnen…
button-prev = ◀ Zurück
button-next = Weiter ▶
button-share = In den Kanal teilen
button-back-to-results = ◀ Zurück zu den Treffern
hit-answers = { $count ->
        [one] { $count } Antwort
       *[other] { $count } Antworten
    }
hit-answer = Antwort
hit-an-answer = eine Antwort
hit-article = Artikel
hit-score = Punkte { $score }

## Posting

reply-sent-as-dm = Discord hat diese Antwort dort nicht angenommen, wo du gefragt hast, daher kommt sie hier:
button-retry = Erneut versuchen
button-edit = Bearbeiten
button-discard = Verwerfen
button-post = Posten
button-post-anyway = Trotzdem posten
button-one-answers-it = Eine davon beantwortet sie
button-discard-draft = Entwurf verwerfen
button-view-on-site = Auf der Seite ansehen
button-post-card = Karte im Kanal posten
posted-as = Gepostet als *{ $who }* auf { $site }: { $url }
posted-already = Bereits gepostet als *{ $who }*: { $url }
posted-after-link = Dein gespeicherter Entwurf wurde gepostet.
not-posted =
    Nicht gepostet: { $why }
    Dein Entwurf bleibt erhalten.
not-posted-maybe =
    Nicht gepostet: { $why } Vielleicht wurde es trotzdem gepostet: sieh auf der Seite nach, bevor du es erneut versuchst.
    Dein Entwurf bleibt erhalten.
question-not-ready =
    Deine Frage ist noch nicht fertig (sie ist gespeichert; drücke Bearbeiten, um sie zu korrigieren):
    { $problems }
answer-not-ready =
    Deine Antwort ist noch nicht fertig (sie ist gespeichert; drücke Bearbeiten, um sie zu korrigieren):
    { $problems }
similar-first =
    Beantwortet eine dieser Fragen deine schon?
    { $list }

    Deine Frage ist gespeichert; poste sie, wenn keine davon hilft.
draft-kept-for-link = Dein Text ist gespeichert (für { $hours } Stunden) und wird in deinem Namen gepostet, sobald du die Verknüpfung abgeschlossen hast.

## Post as answer: choosing the question

pick-recent = Welche Frage beantwortet das? Wähle eine, die in diesem Kanal kürzlich gezeigt wurde, oder suche sie auf der Seite.
pick-none-recent = Welche Frage beantwortet das? In diesem Kanal wurden kürzlich keine Fragen gezeigt: suche sie auf der Seite.
pick-question-n = Frage { $n }
pick-placeholder = Frage wählen…
button-find-question = Nach der Frage suchen…
button-cancel = Abbrechen
pick-draft-gone = Diese Antwort ist nicht mehr gespeichert (sie wurde gepostet, verworfen oder ist abgelaufen). Nutze Als Antwort posten erneut auf der Nachricht.
pick-not-an-answer = Dieser Entwurf ist eine Frage, keine Antwort; es wurde nichts geändert.
find-title = Die Frage finden
find-words = Wörter aus ihrem Titel
find-placeholder = z. B. tokio timeout abort
find-too-short = Gib mindestens { $n } Zeichen des Fragetitels ein.
find-none = Keine Fragen auf { $site } passen zu `{ $words }`. Versuche andere Wörter aus ihrem Titel.
find-found = Fragen auf { $site } zu `{ $words }`: wähle die, die das beantwortet.

## Someone else's message: the author's consent

consent-what-question = als Frage auf { $site }
consent-what-answer = auf { $site } als Antwort auf [{ $title }]({ $url })
consent-question-n = Frage { $n }
consent-prompt = { $author }, { $proposer } möchte deine Nachricht oben { $what } in deinem Namen posten. Sie wird nur gepostet, wenn du zustimmst, über deine eigene Verknüpfung, und du kannst sie vorher prüfen. Lehnst du ab oder antwortest du nicht innerhalb von { $minutes } Minuten, darf { $proposer } sie selbst posten, mit dir als Zitat.
consent-declined = { $author } möchte die Nachricht nicht in eigenem Namen posten lassen. { $proposer } darf sie selbst posten, mit { $author } als Zitat.
button-consent-accept = Zustimmen und prüfen
button-consent-decline = Ablehnen
button-consent-quoted = Fragende Person: als Zitat posten
consent-not-a-proposal = Das ist keine Anfrage zur Nachricht einer anderen Person; es wurde nichts gefragt.
consent-already-asked = Die Person wurde bereits gefragt: die Anfrage steht unter ihrer Nachricht.
consent-expired = Diese Anfrage ist abgelaufen oder wurde zurückgezogen, daher wird nichts gepostet.
consent-author-only = Nur { $author } kann das beantworten: es geht um die eigene Nachricht.
consent-posted-quoted = { $proposer } hat deine Nachricht bereits selbst gepostet, mit dir als Zitat.
consent-you-declined = Du hast diese Anfrage abgelehnt. Um deine Nachricht selbst zu posten, nutze das Nachrichtenmenü (⋯ → Apps) darauf.
consent-no-question = Diese Antwort hat noch keine Frage; es kann nichts gepostet werden.
consent-already-yours = Du hast es bereits selbst gepostet; es gibt nichts abzulehnen.
consent-accepted-theirs = { $author } hat zugestimmt, daher ist es an { $author }, die Nachricht zu posten; in deinem Namen wurde nichts gepostet.
consent-not-asked = Die Person wurde noch nicht gefragt: wähle zuerst die Frage.
consent-still-waiting = { $author } kann noch antworten, bis { $until }. Lehnt die Person ab oder antwortet bis dahin nicht, darfst du es selbst posten, als Zitat.
consent-proposer-only = Nur { $proposer }, die fragende Person, kann es als Zitat posten. Um es selbst zu posten, nutze das Nachrichtenmenü (⋯ → Apps) auf der Nachricht.

## Save thread: die Schaltfläche in Forenbeiträgen, und unterbrochene Schreibvorgänge

button-save-thread = Thread auf { $site } sichern
save-button-elsewhere = Diese Schaltfläche sichert den Forenbeitrag, in dem sie erschien; nutze sie dort, oder nutze **Save thread** auf einer Nachricht des gemeinten Threads.
save-cards-off = Ein Admin hat die Karten des Bots hier ausgeschaltet (`/so-admin channel cards`), und das Sichern eines Threads endet mit einer Karte darin, daher wurde nichts gesichert. Bitte einen Admin, die Karten für diesen Kanal einzuschalten.
save-what-question = die Frage
save-what-answer = die Antwort
save-what-acceptance = das Akzeptieren der Antwort
save-not-confirmed = { $site } hat nicht rechtzeitig geantwortet, daher ist offen, ob { $what } angekommen ist. Nichts wird doppelt gepostet: der Bot sieht auf der Seite nach, bevor er es innerhalb weniger Minuten erneut versucht.
save-cannot-check = Der Bot wurde beim Schreiben unterbrochen (betroffen: { $what }) und kann die Seite gerade nicht prüfen ({ $why }). Es wurde nichts erneut gepostet, also erscheint nichts doppelt; der Bot sieht innerhalb weniger Minuten noch einmal nach.
save-recovered = Save thread **{ $thread }**: der Bot wurde beim Sichern unterbrochen und hat es wieder aufgenommen; er hat zuerst auf { $site } nachgesehen, daher wurde nichts doppelt gepostet.

## Save thread: the flow (choosing, consents, progress, the thread's card)

save-not-in-thread = Nutze **Save thread** auf einer Nachricht in einem Thread oder Forenbeitrag: die erste Nachricht wird die Frage und eine Antwort, die du wählst, die Antwort darauf.
save-cannot-read-threads = Der Bot kann hier keine Threads lesen.
save-thread-unreadable = Der Bot konnte diesen Thread nicht lesen (er braucht darin „Kanal ansehen“ und „Nachrichtenverlauf lesen“). Versuche es erneut, oder bitte einen Admin, die Berechtigungen mit `/so-admin doctor` zu prüfen.
save-no-starter = Die erste Nachricht dieses Threads ist weg, daher gibt es keine Frage zu sichern.
save-no-replies = Dieser Thread hat noch keine Antwort, die als Antwort gesichert werden kann. Sobald jemand antwortet, führe **Save thread** erneut aus.
save-choose-answer = **{ $thread }** auf { $site } sichern: die erste Nachricht, von **{ $author }**, wird die Frage. Welche Antwort im Thread beantwortet sie? Jede Person wird gefragt, bevor etwas in ihrem Namen gepostet wird.
save-answer-placeholder = Die Antwort, die die Frage beantwortet
save-no-message-content = Der Bot kann die Antworten in diesem Thread nicht lesen: Discord schickt sie ohne Text, weil der **Message Content**-Intent des Bots aus ist. Bitte einen Admin, ihn einzuschalten (Discord Developer Portal → die Anwendung des Bots → Bot → Privileged Gateway Intents → Message Content Intent), und versuche es dann erneut. Es wurde nichts gesichert.
save-lapsed = Dieses Sichern ist vorbei (es ist nach zwei Tagen verfallen). Führe **Save thread** erneut aus.
save-invoker-only-choose = Nur wer dieses Sichern gestartet hat, kann die Antwort wählen.
save-modal-title = Auf { $site } sichern
save-field-title = Titel der Frage
save-field-tags = Tags (1–5, durch Kommas getrennt)
save-invoker-only-confirm = Nur wer dieses Sichern gestartet hat, kann es bestätigen.
save-already-confirmed = Dieses Sichern wurde bereits bestätigt; die Autorinnen und Autoren wurden gefragt.
save-thread-unreadable-again = Der Bot konnte den Thread nicht erneut lesen; versuche es noch einmal.
save-message-deleted = Die erste Nachricht oder die gewählte Antwort wurde inzwischen gelöscht. Führe **Save thread** erneut aus.
save-problem-question = (die erste Nachricht) { $problem }
save-problem-answer = (die gewählte Antwort) { $problem }
save-not-saved = { $problems } Es wurde nichts gesichert; wähle erneut, um Titel oder Tags zu korrigieren.
save-consent-question = möchte den Thread **{ $thread }** auf { $site } sichern und deine erste Nachricht als Frage **unter deinem Konto auf { $site }** posten:
save-consent-answer = möchte den Thread **{ $thread }** auf { $site } sichern und deine Antwort als die Antwort **unter deinem Konto auf { $site }** posten:
save-button-post-as-me = In meinem Namen posten
save-button-post-and-accept = In meinem Namen posten und die Antwort akzeptieren
save-consent-link-first = Um zuzustimmen, verknüpfe zuerst dein Konto auf { $site } (`/so link`).
save-asked-no-dm = **{ $author }** (per DM nicht erreichbar: kann also nicht zustimmen, daher wird nichts davon gepostet, außer du postest es selbst)
save-saving = Wird gesichert.
save-asked = { $authors } um Zustimmung gebeten (innerhalb von { $hours } Stunden); du bekommst eine DM, wenn es fertig ist.
save-asked-both = { $first } und { $second }
save-only-author = Nur { $author } kann das beantworten.
save-link-first = Damit es in deinem Namen gepostet wird, verknüpfe zuerst dein Konto auf { $site } und drück dann die Schaltfläche erneut (innerhalb von { $hours } Stunden).
save-no-such-part = Dieses Sichern hat keinen solchen Teil.
save-already-answered = Diese Anfrage wurde bereits beantwortet oder ist verfallen ({ $decision }).
save-consent-thanks = Danke, es wird in deinem Namen gepostet.
save-consent-declined = Abgelehnt: nichts von dir wird gepostet.
save-invoker-only-do = Nur wer dieses Sichern gestartet hat, kann das tun.
save-part-posted = Dieser Teil ist bereits auf der Seite.
save-not-refused-yet = { $author } hat noch nicht abgelehnt ({ $decision }); du kannst es erst in deinem Namen posten, wenn die Person ablehnt oder die { $hours } Stunden vorbei sind.
save-question-first = Poste zuerst die Frage: die Antwort braucht sie.
save-posted-as-you = In deinem Namen gepostet.
save-ended = Save thread **{ $thread }**:
save-question-posted = Frage gepostet als **{ $name }**: { $url }
save-question-refused = Die Person, die die Frage geschrieben hat (**{ $author }**), hat { $decision }: in ihrem Namen wurde nichts gepostet.
save-waiting-question = Warte auf **{ $author }** (die Frage).
save-answer-posted = Antwort gepostet als **{ $name }**: { $url }
save-answer-posted-accepted = Antwort gepostet als **{ $name }** und akzeptiert ✓: { $url }
save-answer-refused = Die Person, die die Antwort geschrieben hat (**{ $author }**), hat { $decision }: in ihrem Namen wurde nichts gepostet.
save-waiting-answer = Warte auf **{ $author }** (die Antwort).
save-button-question-as-me = Frage in meinem Namen posten
save-button-answer-as-me = Antwort in meinem Namen posten
save-text-lapsed = Der gesicherte Text ist verfallen (zwei Tage). Führe **Save thread** erneut aus.
save-doing-as-you = es in deinem Namen zu posten
save-doing-as-author = es als { $author } zu posten
save-author-no-link = **{ $author }** hat zugestimmt, hat aber keine nutzbare Verknüpfung, daher wurde noch nichts in ihrem Namen gepostet: { $why }
save-question-not-posted = Die Frage ist noch nicht gepostet.
save-already-posting = Wird schon gepostet; sieh gleich im Thread nach.
save-already-posted = Bereits gepostet: { $outcome }
save-question-failed = Die Frage konnte nicht gepostet werden: { $why }
save-answer-failed = Die Antwort konnte nicht gepostet werden: { $why }
save-accept-no-link = Die Antwort konnte nicht akzeptiert werden: die Person, die die Frage geschrieben hat, hat keine nutzbare Verknüpfung.
save-accepting = Die Antwort wird akzeptiert…
save-accept-not-recorded = Der Bot konnte das Akzeptieren nicht speichern ({ $error }).
save-accept-failed = Die Antwort konnte nicht akzeptiert werden: { $why }
save-card = Aus diesem Thread auf { $site } gesichert: { $by }.
save-card-by-question = Frage von **{ $question }**
save-card-by-both = Frage von **{ $question }**, Antwort von **{ $answer }**
save-card-by-both-accepted = Frage von **{ $question }**, Antwort von **{ $answer }** ✓

## Save thread: an author's consent (the DM asking them)

consent-lapses = Ohne deine Antwort wird nichts gepostet; nach { $hours } Stunden verfällt diese Anfrage.
consent-state-pending = noch nicht geantwortet
consent-state-agreed = zugestimmt
consent-state-declined = abgelehnt
consent-state-expired = nicht innerhalb von { $hours } Stunden geantwortet

## Command registration: descriptions and choices (at most 100 characters each)

reg-so = Auf { $site } suchen, lesen, fragen und antworten
reg-search = Fragen und Antworten suchen (nur du siehst die Treffer)
reg-search-query = Wonach gesucht wird
reg-search-tag = Nur Treffer mit diesem Tag
reg-search-sort = Reihenfolge der Treffer
reg-sort-relevance = Relevanz
reg-sort-newest = neueste
reg-sort-active = aktiv
reg-sort-score = Punkte
reg-question = Eine Frage mit ihren besten Antworten zeigen
reg-question-ref = Tippe den Anfang ihres Titels, oder füge ihre Nummer oder ihren Link ein
reg-ask = Eine Frage stellen, in deinem Namen gepostet
reg-ask-title = Der Titel der Frage
reg-tags = Tags, durch Leerzeichen getrennt
reg-answer = Eine Frage beantworten, in deinem Namen gepostet
reg-link = Verknüpfe dein Konto auf { $site }, damit dir Beiträge zugeschrieben werden
reg-unlink = Dein Token für { $site } und deine Entwürfe vergessen
reg-me = Das verknüpfte Konto mit Zugriff und Ablauf zeigen
reg-alerts = DMs zu Antworten auf deine Fragen und zu neuen Fragen in deinen Tags
reg-alerts-on = Antworten auf alle deine Fragen und neue Fragen in deinen beobachteten Tags
reg-alerts-tags = Diese Tags statt deiner beobachteten Tags
reg-alerts-off = Gar keine Benachrichtigungen
reg-experts = DMs, wenn eine Frage in einem Tag, für das du Experte bist, unbeantwortet bleibt
reg-experts-on = Unbeantwortete Fragen in meinen Experten-Tags schicken
reg-experts-off = Nicht mehr schicken
reg-help = Wie man den Bot benutzt
reg-channel-default-here = Der Kanal (Standard: dieser)
reg-admin = Den Bot für diesen Server einrichten (Server verwalten)
reg-admin-channel = Wo der Bot antwortet, und wie
reg-admin-enable = Den Bot in einem Kanal antworten lassen
reg-admin-disable = Den Bot in einem Kanal nicht mehr antworten lassen
reg-admin-team = Einen Kanal an ein privates Team binden (ohne slug: Bindung lösen)
reg-admin-team-slug = Der Slug des Teams, wie in https://SITE/c/<slug>
reg-admin-cards = Mitgliedern nach dem Posten eine öffentliche Karte im Kanal anbieten (Standard: an)
reg-admin-cards-state = an: nach dem Posten die Karte anbieten; aus: Beiträge bleiben privat
reg-state-on = an
reg-state-off = aus
reg-admin-cards-channel = Der Kanal (Standard: dieser); seine Threads und Beiträge folgen ihm
reg-admin-tags = Standard-Tags beim Fragen aus einem Kanal (ohne tags: leeren)
reg-subscribe = Neue Aktivität mit diesen Tags in einen Kanal posten
reg-subscribe-tags = Tags, durch Kommas oder Leerzeichen getrennt (bis zu 10)
reg-subscribe-channel = Wohin die Karten gehen (Standard: dieser Kanal)
reg-subscribe-match = Einer der Tags (Standard) oder alle
reg-match-any = einer
reg-match-all = alle
reg-subscribe-exclude = Nie Einträge mit diesen Tags posten
reg-subscribe-events = questions, answers, accepted, articles (durch Kommas getrennt; Standard: questions)
reg-subscribe-unanswered = Fragen erst posten, wenn sie so lange unbeantwortet sind, z. B. 4h oder 2d
reg-subscribe-threads = Zu jeder Fragekarte in diesem Kanal einen Thread starten (Standard: aus)
reg-subscribe-cap = Karten pro Stunde in diesem Kanal, bevor der Rest in eine Übersicht geht (Standard 20)
reg-subscriptions = Die Abo-Regeln auflisten, mit letztem Beitrag und letztem Fehler
reg-subscriptions-channel = Nur die Regeln dieses Kanals
reg-unsubscribe = Eine Abo-Regel entfernen
reg-preview = Wie viele Karten eine Regel in den letzten 7 Tagen gepostet hätte
reg-rule = Die Nummer der Regel (siehe /so-admin subscriptions)
reg-doctor = Rechte des Bots, die Seite und das Service-Token prüfen; eine Testkarte posten
reg-audit-channel = Wohin Konfigurationsänderungen und Beiträge über den Bot gemeldet werden
reg-audit-off = Den Audit-Kanal ausschalten
