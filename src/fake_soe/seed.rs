//! The fake site's seeded demo data: people, a service account, tags, questions with answers
//! and comments on the main site, and a private team `platform` with its own small set.
//!
//! Invariants the tests and the demo rely on (keep them when editing the content):
//! - main-site questions are posts 1–8 and team questions 9–11 (answers come after); no
//!   articles (tests add them with `FakeSoe::add_article`, so seeded ids stay put);
//! - question 3 is about async/tokio, has two answers and comments, none accepted, and is owned
//!   by [`SAM`];
//! - question 1 has an accepted answer; question 7 is unanswered; question 5's title contains
//!   `&`, quotes and `<>`;
//! - at least four questions match the search word "async";
//! - answers contain fenced code blocks with languages, `<`, `&`, quotes and links;
//! - dates are fixed (December 2025), so snapshots are stable whatever the clock says.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::store::{FakeUser, Store};

/// The service account that owns the seeded read-only service token.
pub const SERVICE: i64 = 1;
/// Jane Doe, a moderator (staff engineer, platform).
pub const JANE: i64 = 2;
/// Sam Rivera, a backend developer; owns question 3.
pub const SAM: i64 = 3;
/// Priya Natarajan, an SRE.
pub const PRIYA: i64 = 4;
/// Alex Kim, a frontend developer with little reputation.
pub const ALEX: i64 = 5;
/// Connor O'Brien, whose name has an apostrophe (tests encoding of names).
pub const CONNOR: i64 = 6;

/// The seeded private team's slug.
pub const TEAM: &str = "platform";

/// Question 1: sharing state between axum handlers; has an accepted answer.
pub const Q_ACCEPTED: i64 = 1;
/// Question 3: running tokio tasks concurrently; two answers, comments, nothing accepted.
pub const Q_ASYNC: i64 = 3;
/// Question 5: a title with `&`, double and single quotes and `<>`.
pub const Q_ENTITIES: i64 = 5;
/// Question 7: unanswered.
pub const Q_UNANSWERED: i64 = 7;
/// Question 9: the first question of the `platform` team.
pub const Q_TEAM: i64 = 9;

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, day, hour, minute, 21)
        .single()
        .unwrap_or_default()
        + Duration::milliseconds(254)
}

fn user(
    id: i64,
    name: &str,
    reputation: i64,
    role: &str,
    email: &str,
    job: &str,
    department: &str,
) -> FakeUser {
    FakeUser {
        id,
        account_id: 10_000 + id,
        name: name.into(),
        reputation,
        role: role.into(),
        email: email.into(),
        job_title: Some(job.into()),
        department: Some(department.into()),
        external_id: Some(format!("okta|00u{id:04}acme")),
    }
}

const TAGS: &[(&str, &str)] = &[
    (
        "rust",
        "Rust is a systems language focused on safety, speed & concurrency.",
    ),
    (
        "async",
        "Asynchronous programming: futures, promises, async/await and event loops.",
    ),
    (
        "tokio",
        "Tokio is an asynchronous runtime for Rust: tasks, I/O, timers & channels.",
    ),
    (
        "axum",
        "axum is a web framework for Rust built on tokio, tower and hyper.",
    ),
    (
        "python",
        "Python is a dynamically typed, general-purpose language.",
    ),
    (
        "kubernetes",
        "Kubernetes (k8s) orchestrates containers: pods, deployments & services.",
    ),
    ("docker", "Docker builds and runs containers from images."),
    (
        "sql",
        "Structured Query Language: SELECT, JOIN, WHERE <conditions> and friends.",
    ),
    (
        "postgresql",
        "PostgreSQL is an open-source relational database.",
    ),
    ("c#", "C# is a language for the .NET platform by Microsoft."),
    (".net", "Microsoft's \"managed\" runtime and libraries."),
    (
        "javascript",
        "JavaScript (not Java) runs in browsers and in Node.js.",
    ),
    ("git", "Git is a distributed version-control system."),
];

const Q1: &str = "I have an axum 0.8 app and several handlers need the same database pool and a \
config struct. Right now I create them inside each handler, which is slow.

```rust
async fn list_users() -> impl IntoResponse {
    let pool = PgPool::connect(\"postgres://localhost/app\").await.unwrap();
    // ...
}
```

What is the idiomatic way to share them between handlers?";

const A1: &str = "Put everything in one `Clone` struct and hand it to the router with \
`with_state`; handlers take it with the `State` extractor:

```rust
#[derive(Clone)]
struct AppState {
    pool: PgPool,
    config: Arc<Config>,
}

let app = Router::new()
    .route(\"/users\", get(list_users))
    .with_state(AppState { pool, config: Arc::new(config) });

async fn list_users(State(state): State<AppState>) -> impl IntoResponse {
    let rows = sqlx::query(\"SELECT id, name FROM users\").fetch_all(&state.pool).await;
    // ...
}
```

`PgPool` is already an `Arc` inside, so cloning it is cheap. See the \
[axum docs on sharing state](https://docs.rs/axum/latest/axum/#sharing-state-with-handlers).";

const A1B: &str = "You can also use `Extension<T>` layers, but `State` is checked at compile \
time & is what the axum authors recommend since 0.6.";

const Q2: &str = "In Python, what is the practical difference between these two lines?

```python
squares = [x * x for x in range(10_000_000)]
squares = (x * x for x in range(10_000_000))
```

The second one returns instantly but I can only iterate it once. When should I use which?";

const A2: &str = "The list comprehension builds the whole list in memory up front; the \
generator expression yields one item at a time & keeps almost no memory.

```python
>>> import sys
>>> sys.getsizeof([x for x in range(1000)]) > sys.getsizeof(x for x in range(1000))
True
```

Use a generator when you iterate once (e.g. `sum(x * x for x in data)`), a list when you need \
`len()`, indexing or several passes.";

const Q3: &str = "I need to call ~20 internal HTTP services from an async fn and collect all \
the results. Awaiting them one after another takes 20 × the latency:

```rust
let mut results = Vec::new();
for url in &urls {
    results.push(reqwest::get(url).await?.text().await?);
}
```

How do I run these concurrently with tokio and still get every `Result<String, Error>` back? \
Ideally without spawning 20 OS threads.";

const A3: &str = "Use a [`JoinSet`](https://docs.rs/tokio/latest/tokio/task/struct.JoinSet.html): \
it owns the tasks & yields each result as it finishes.

```rust
use tokio::task::JoinSet;

async fn fetch_all(urls: Vec<String>) -> Vec<Result<String, reqwest::Error>> {
    let mut set = JoinSet::new();
    for url in urls {
        set.spawn(async move { reqwest::get(&url).await?.text().await });
    }
    let mut out = Vec::with_capacity(set.len());
    while let Some(joined) = set.join_next().await {
        if let Ok(result) = joined {
            out.push(result);
        }
    }
    out
}
```

Tasks are *green* tasks on the runtime's worker threads, not OS threads, so 20 (or 2,000) is \
fine. Results arrive in completion order; if you need the original order, see the other answer.";

const A3B: &str = "If you don't need `'static` tasks, `futures::future::join_all` keeps the \
input order & borrows happily:

```rust
let bodies: Vec<Result<String, reqwest::Error>> = futures::future::join_all(
    urls.iter().map(|u| async move { reqwest::get(u).await?.text().await }),
)
.await;
```

Note it polls everything on the current task, so CPU-heavy work won't run in parallel. For \
bounded concurrency use `buffer_unordered(8)` from `futures::StreamExt`.";

const Q4: &str = "After bumping our base image from `debian:bookworm-slim` to \
`gcr.io/distroless/cc-debian12`, the pod goes into `CrashLoopBackOff`. `kubectl logs` shows \
nothing and `kubectl describe pod` says:

```text
Last State:     Terminated
  Reason:       StartError
  Message:      exec: \"/bin/sh\": stat /bin/sh: no such file or directory
```

The Dockerfile ends with `CMD /app/server --port 8080`. What changed?";

const A4: &str = "Distroless images have no shell. The *shell form* `CMD /app/server ...` is run \
as `/bin/sh -c \"...\"`, which doesn't exist there. Use the *exec form*:

```dockerfile
CMD [\"/app/server\", \"--port\", \"8080\"]
```

The same applies to `ENTRYPOINT` and to any `command:` in the pod spec that relies on `sh -c`.";

const Q5_TITLE: &str =
    "Why does \"SELECT * FROM orders WHERE status <> 'shipped'\" skip NULL rows & how do I fix it?";

const Q5: &str = "Our `orders.status` column is nullable. This query should return every order \
that isn't shipped, but rows where `status IS NULL` are missing:

```sql
SELECT * FROM orders WHERE status <> 'shipped';
```

Is this a PostgreSQL bug?";

const A5: &str = "Not a bug: `NULL <> 'shipped'` is `NULL` (unknown), and `WHERE` keeps only \
rows where the condition is `TRUE`. Say what you mean:

```sql
SELECT * FROM orders WHERE status IS DISTINCT FROM 'shipped';
-- or, portable:
SELECT * FROM orders WHERE status <> 'shipped' OR status IS NULL;
```

See [comparison functions](https://www.postgresql.org/docs/current/functions-comparison.html) \
in the PostgreSQL docs.";

const Q6: &str = "I have a service class whose constructor must load settings over HTTP. \
Constructors can't be `async`, so I wrote this, which deadlocks in our ASP.NET app:

```csharp
public SettingsService(HttpClient http)
{
    _settings = http.GetFromJsonAsync<Settings>(\"/settings\").Result;
}
```

How do I await an async method in a C# constructor?";

const A6: &str = "You can't; use an async factory (or initialise lazily) instead of blocking \
with `.Result`:

```csharp
public static async Task<SettingsService> CreateAsync(HttpClient http)
{
    var settings = await http.GetFromJsonAsync<Settings>(\"/settings\");
    return new SettingsService(settings!);
}
```

Blocking on `.Result` inside a synchronization context is the classic async deadlock.";

const Q7: &str = "I start a `fetch` in a React effect and want to cancel it when the \
component unmounts, but `await` has no cancel method:

```javascript
useEffect(() => {
  (async () => {
    const res = await fetch(`/api/search?q=${query}`);
    setResults(await res.json());
  })();
}, [query]);
```

Is there a way to cancel a pending fetch request when using async/await?";

const Q8: &str = "Every time I `git rebase main`, git stops on the same conflict in \
`Cargo.lock`, and after I resolve it and `git rebase --continue`, the next commit conflicts on \
the very same lines again. Is there a way to make git remember my resolution?";

const A8: &str = "Turn on *rerere* (\"reuse recorded resolution\"):

```bash
git config --global rerere.enabled true
```

git then records how you resolved each conflict & replays it automatically. For lock files it \
is often simpler to take one side and regenerate: `git checkout --theirs Cargo.lock && cargo \
generate-lockfile`.";

const T9: &str = "A primary PostgreSQL node is down in production. Who gets paged, and when do \
we escalate to the database team vs. the incident commander?";

const TA9: &str = "Page the platform on-call first (PagerDuty service `platform-primary`). If \
the primary isn't back within **15 minutes**, escalate to `@db-oncall` & open an incident in \
`#inc-<date>-db`. The full runbook is on the [wiki](https://wiki.example.com/runbooks/db-failover).";

const T10: &str = "My team needs a namespace for a new service in the staging cluster. Is there \
a form, or do I open a pull request somewhere?";

const TA10: &str = "Open a PR against `platform/namespaces` adding a file like this:

```yaml
apiVersion: v1
kind: Namespace
metadata:
  name: payments-staging
  labels:
    team: payments
```

CI applies it after one approval from the platform team.";

const T11: &str = "We have services on tokio, one on async-std and one on smol. Should we \
standardise on a single async runtime for internal Rust services?";

/// Loads the users and the private team only (no posts, no tags).
pub(crate) fn seed_users_only(store: &mut Store) {
    store.add_team(TEAM);
    store.put_user(user(
        SERVICE,
        "soe-bot service",
        1,
        "Registered",
        "soe-bot@acme.example",
        "Service account",
        "Developer Experience",
    ));
    store.put_user(user(
        JANE,
        "Jane Doe",
        15_230,
        "Moderator",
        "jane.doe@acme.example",
        "Staff Engineer",
        "Platform",
    ));
    store.put_user(user(
        SAM,
        "Sam Rivera",
        4_821,
        "Registered",
        "sam.rivera@acme.example",
        "Backend Developer",
        "Payments",
    ));
    store.put_user(user(
        PRIYA,
        "Priya Natarajan",
        9_874,
        "Registered",
        "priya.natarajan@acme.example",
        "Site Reliability Engineer",
        "Infrastructure",
    ));
    store.put_user(user(
        ALEX,
        "Alex Kim",
        312,
        "Registered",
        "alex.kim@acme.example",
        "Frontend Developer",
        "Web",
    ));
    store.put_user(user(
        CONNOR,
        "Connor O'Brien",
        1_203,
        "Registered",
        "connor.obrien@acme.example",
        ".NET Developer",
        "Billing",
    ));
}

/// Loads the demo data into an empty store.
pub(crate) fn seed(store: &mut Store) {
    seed_users_only(store);
    for (i, (name, description)) in TAGS.iter().enumerate() {
        let id = store.ensure_tag(None, name, description, at(1, 9, i as u32));
        debug_assert!(id > 0);
    }

    // Main site questions: posts 1–8.
    let q1 = store.insert_question(
        None,
        SAM,
        "How do I share a database pool between axum handlers?",
        Q1,
        &["rust", "axum", "postgresql"],
        at(2, 10, 5),
        7,
        412,
    );
    let q2 = store.insert_question(
        None,
        ALEX,
        "What is the difference between a list comprehension and a generator expression?",
        Q2,
        &["python"],
        at(3, 14, 40),
        3,
        198,
    );
    let q3 = store.insert_question(
        None,
        SAM,
        "How do I run async tasks concurrently with tokio and collect their results?",
        Q3,
        &["rust", "async", "tokio"],
        at(5, 9, 12),
        12,
        1_034,
    );
    let q4 = store.insert_question(
        None,
        PRIYA,
        "Pod stuck in CrashLoopBackOff after switching to a distroless base image",
        Q4,
        &["kubernetes", "docker"],
        at(8, 16, 3),
        5,
        287,
    );
    let q5 = store.insert_question(
        None,
        ALEX,
        Q5_TITLE,
        Q5,
        &["sql", "postgresql"],
        at(10, 11, 30),
        4,
        156,
    );
    let q6 = store.insert_question(
        None,
        CONNOR,
        "How do I await an async method in a C# constructor?",
        Q6,
        &["c#", ".net", "async"],
        at(12, 8, 45),
        6,
        341,
    );
    let q7 = store.insert_question(
        None,
        ALEX,
        "How can I cancel a pending fetch request when using async/await in JavaScript?",
        Q7,
        &["javascript", "async"],
        at(15, 17, 20),
        1,
        42,
    );
    let q8 = store.insert_question(
        None,
        JANE,
        "git rebase keeps asking me to resolve the same Cargo.lock conflict",
        Q8,
        &["git"],
        at(18, 13, 0),
        2,
        88,
    );

    // Team questions: posts 9–11.
    for (i, (name, description)) in [
        ("on-call", "Paging, escalation & incident response at Acme."),
        ("postgresql", "Our PostgreSQL fleet."),
        ("kubernetes", "The platform's Kubernetes clusters."),
        ("rust", "Rust services at Acme."),
        ("async", "Async runtimes and patterns."),
    ]
    .iter()
    .enumerate()
    {
        store.ensure_tag(Some(TEAM), name, description, at(1, 12, i as u32));
    }
    let t9 = store.insert_question(
        Some(TEAM),
        PRIYA,
        "What is our escalation policy for database incidents?",
        T9,
        &["on-call", "postgresql"],
        at(4, 9, 0),
        3,
        61,
    );
    let t10 = store.insert_question(
        Some(TEAM),
        ALEX,
        "How do I request a new Kubernetes namespace for my team?",
        T10,
        &["kubernetes"],
        at(9, 15, 10),
        2,
        37,
    );
    let _t11 = store.insert_question(
        Some(TEAM),
        SAM,
        "Should we standardise on one async runtime for internal Rust services?",
        T11,
        &["rust", "async"],
        at(16, 10, 0),
        1,
        19,
    );

    // Answers: posts 12 onwards.
    let a1 = store.insert_answer(q1, JANE, A1, at(2, 11, 20), 9);
    store.insert_answer(q1, PRIYA, A1B, at(2, 13, 2), 2);
    let _ = store.set_accepted(q1, a1, SAM, true, at(2, 12, 0));
    store.insert_answer(q2, PRIYA, A2, at(3, 15, 5), 4);
    let a3 = store.insert_answer(q3, JANE, A3, at(5, 10, 1), 8);
    let a3b = store.insert_answer(q3, PRIYA, A3B, at(5, 12, 44), 3);
    store.insert_answer(q4, JANE, A4, at(8, 17, 30), 6);
    store.insert_answer(q5, PRIYA, A5, at(10, 12, 15), 5);
    store.insert_answer(q6, JANE, A6, at(12, 9, 30), 4);
    store.insert_answer(q8, SAM, A8, at(18, 14, 10), 3);
    store.insert_answer(t9, JANE, TA9, at(4, 10, 30), 2);
    store.insert_answer(t10, PRIYA, TA10, at(9, 16, 0), 1);
    debug_assert!(q7 > 0);

    // Comments.
    store.insert_comment(
        q3,
        JANE,
        "Are you on the multi-threaded runtime? `#[tokio::main]` uses it by default, \
         `#[tokio::test]` doesn't.",
        at(5, 9, 30),
        2,
    );
    store.insert_comment(
        q3,
        SAM,
        "Yes, `flavor = \"multi_thread\"` & 4 workers. It's the awaiting in a loop that's slow.",
        at(5, 9, 41),
        0,
    );
    store.insert_comment(
        a3,
        SAM,
        "Works, thanks! Is there a way to cap it at <= 8 requests in flight?",
        at(5, 11, 2),
        1,
    );
    store.insert_comment(
        a3b,
        ALEX,
        "`buffer_unordered` is what we use in the web gateway, see [our notes](https://wiki.example.com/async).",
        at(5, 13, 0),
        0,
    );
    store.insert_comment(
        q1,
        CONNOR,
        "Don't forget `.with_state()` must come last, after all the routes.",
        at(2, 12, 30),
        3,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_invariants_hold() {
        let mut s = Store::new();
        seed(&mut s);
        let q3 = s
            .question(None, Q_ASYNC)
            .map(|q| q.title.clone())
            .unwrap_or_default();
        assert!(q3.contains("tokio") && q3.contains("async"), "{q3}");
        assert_eq!(s.question(None, Q_ASYNC).map(|q| q.owner_id), Some(SAM));
        assert_eq!(s.answers_of(Q_ASYNC).len(), 2);
        assert!(s.answers_of(Q_ASYNC).iter().all(|a| !a.is_accepted));
        assert!(s
            .question(None, Q_ACCEPTED)
            .and_then(|q| q.accepted_answer_id)
            .is_some());
        assert_eq!(s.answer_count(Q_UNANSWERED), 0);
        let t5 = s
            .question(None, Q_ENTITIES)
            .map(|q| q.title.clone())
            .unwrap_or_default();
        assert!(t5.contains('&') && t5.contains('"') && t5.contains('\'') && t5.contains("<>"));
        assert_eq!(s.questions_on(None).len(), 8);
        assert_eq!(s.questions_on(Some(TEAM)).len(), 3);
        assert_eq!(s.question(Some(TEAM), Q_TEAM).map(|q| q.id), Some(9));
        let asyncs = s
            .questions_on(None)
            .iter()
            .filter(|q| q.title.to_lowercase().contains("async"))
            .count();
        assert!(asyncs >= 3);
        assert!(!s.comments_on(Q_ASYNC).is_empty());
        assert!(s.user(CONNOR).is_some_and(|u| u.name.contains('\'')));
    }
}
