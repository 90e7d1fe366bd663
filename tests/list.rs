//! The sessions list endpoint (SPEC §5) against an independently computed expectation, on every
//! backend: each filter, each sort key both ways with the id tie-break, paging and links; id
//! and `q` substrings of every length (one and two characters cannot use the trigram index),
//! LIKE metacharacters, ids changed by merges, more facet values than the row has bits for, and
//! a database created before the search structures existed.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{json, Value};

/// One seeded session and its runs, with the totals computed here rather than by the store.
#[derive(Clone, Debug)]
struct Seed {
    id: String,
    runs: Vec<SeedRun>,
}

#[derive(Clone, Debug)]
struct SeedRun {
    minute: f64,
    duration_ms: i64,
    agent: &'static str,
    model: &'static str,
    tools: Vec<&'static str>,
    user: Option<&'static str>,
    error: bool,
    cost_micros: i64,
    tokens: i64,
}

impl Seed {
    fn first_run(&self) -> f64 {
        self.runs.iter().map(|r| r.minute).fold(f64::MAX, f64::min)
    }
    fn last_activity(&self) -> f64 {
        self.runs
            .iter()
            .map(|r| r.minute + r.duration_ms as f64 / 60_000.0)
            .fold(f64::MIN, f64::max)
    }
    fn duration_ms(&self) -> i64 {
        self.runs.iter().map(|r| r.duration_ms).sum()
    }
    fn cost_micros(&self) -> i64 {
        self.runs.iter().map(|r| r.cost_micros).sum()
    }
    fn tokens(&self) -> i64 {
        self.runs.iter().map(|r| r.tokens + r.tokens / 2).sum()
    }
    fn has(&self, f: impl Fn(&SeedRun) -> bool) -> bool {
        self.runs.iter().any(f)
    }
}

/// A deterministic, varied dataset: ties in every sort key, mixed-case ids, ids holding LIKE's
/// metacharacters and non-ASCII letters, tools shared.
fn seeds() -> Vec<Seed> {
    const AGENTS: [&str; 3] = ["planner", "writer", "Reviewer"];
    const MODELS: [&str; 4] = [
        "gpt-4o",
        "gpt-4o-mini",
        "claude-3-5-sonnet",
        "llama-3.1-70b",
    ];
    const TOOLS: [&str; 5] = [
        "search",
        "fetch_url",
        "sql_query",
        "send_email",
        "search_docs",
    ];
    const USERS: [&str; 4] = ["u1", "u2", "u3", "Ünïcode"];
    let mut x: u64 = 7;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    (0..60)
        .map(|i| {
            let id = match i % 6 {
                0 => format!("conv-{i:03}"),
                1 => format!("Alpha-{i:03}"),
                2 => format!("sess_{:016x}", 0xabc000 + i),
                3 => format!("team/chat {i}"),
                4 => format!("100%_off\\{i}"),
                _ => format!("Été-{i:02}"),
            };
            let n = 1 + next(4) as usize;
            let base = (next(20) * 240) as f64; // 4-hour slots: ties in first_run
            let runs = (0..n)
                .map(|k| SeedRun {
                    minute: base + k as f64 * 3.0,
                    duration_ms: 500 * (1 + next(6) as i64),
                    agent: AGENTS[next(3) as usize],
                    model: MODELS[next(4) as usize],
                    tools: (0..next(3)).map(|_| TOOLS[next(5) as usize]).collect(),
                    user: (next(3) > 0).then(|| USERS[next(4) as usize]),
                    error: next(7) == 0,
                    cost_micros: 1000 * (1 + next(5) as i64),
                    tokens: 100 * (1 + next(4) as i64),
                })
                .collect();
            Seed { id, runs }
        })
        .collect()
}

fn run_json(s: &Seed, k: usize, r: &SeedRun) -> Value {
    let mut v = json!({
        "id": format!("{}#{k}", s.id), "session_id": s.id, "started_at": at(r.minute),
        "duration_ms": r.duration_ms, "agent_name": r.agent, "model": r.model,
        "tools_called": r.tools, "cost": r.cost_micros as f64 / 1e6,
        "input_tokens": r.tokens, "output_tokens": r.tokens / 2,
    });
    if let Some(u) = r.user {
        v["user_id"] = u.into();
    }
    if r.error {
        v["status"] = "error".into();
    }
    v
}

/// Case-insensitive for ASCII letters only: SQLite's `LIKE`, and PostgreSQL's `ILIKE` on the
/// byte-ordered (C collation) session id.
fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// `q`: the id, a model or a tool called contains the text.
fn q_matches(s: &Seed, text: &str) -> bool {
    contains_ci(&s.id, text)
        || s.has(|r| contains_ci(r.model, text) || r.tools.iter().any(|t| contains_ci(t, text)))
}

/// What the list must answer: matching ids in order, computed from the seed.
fn expected(seeds: &[Seed], filter: &dyn Fn(&Seed) -> bool, sort: &str) -> Vec<String> {
    let mut rows: Vec<&Seed> = seeds.iter().filter(|s| filter(s)).collect();
    let (desc, key) = match sort.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, sort),
    };
    let value = |s: &Seed| -> f64 {
        match key {
            "last_activity" => s.last_activity(),
            "first_run" => s.first_run(),
            "run_count" => s.runs.len() as f64,
            "total_duration" => s.duration_ms() as f64,
            "total_cost" => s.cost_micros() as f64,
            "total_tokens" => s.tokens() as f64,
            _ => 0.0,
        }
    };
    rows.sort_by(|a, b| {
        let ord = if key == "session_id" {
            a.id.cmp(&b.id)
        } else {
            value(a).partial_cmp(&value(b)).unwrap()
        };
        let ord = if desc { ord.reverse() } else { ord };
        ord.then_with(|| a.id.cmp(&b.id))
    });
    rows.into_iter().map(|s| s.id.clone()).collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session_id"].as_str().unwrap().to_string())
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn every_parameter_and_sort_matches_an_independent_expectation() {
    let seeds = seeds();
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        let runs: Vec<Value> = seeds
            .iter()
            .flat_map(|s| {
                s.runs
                    .iter()
                    .enumerate()
                    .map(move |(k, r)| run_json(s, k, r))
            })
            .collect();
        let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({ "runs": runs })).await;
        assert_eq!(r.status, 200, "{}", r.text());

        let list = |query: String| {
            let app = app.clone();
            async move {
                let r = get(&app, &format!("/api/v1/observability/sessions/?{query}")).await;
                assert_eq!(r.status, 200, "{query}: {}", r.text());
                r.json()
            }
        };

        let total = seeds.len() as i64;
        // Every sort key, both ways, all rows (limit 100 > 60).
        for key in [
            "last_activity",
            "first_run",
            "run_count",
            "total_duration",
            "total_cost",
            "total_tokens",
            "session_id",
        ] {
            for sort in [key.to_string(), format!("-{key}")] {
                let page = list(format!("sort={sort}&limit=100")).await;
                assert_eq!(
                    ids(&page),
                    expected(&seeds, &|_| true, &sort),
                    "{}: sort={sort}",
                    db.backend
                );
                assert_eq!(page["count"], total);
            }
        }
        // The default is -last_activity.
        assert_eq!(
            ids(&list("limit=100".into()).await),
            expected(&seeds, &|_| true, "-last_activity")
        );

        // Aggregates of every row equal the seed's.
        let page = list("limit=100&sort=session_id".into()).await;
        for row in page["results"].as_array().unwrap() {
            let s = seeds.iter().find(|s| s.id == row["session_id"]).unwrap();
            assert_eq!(row["run_count"], s.runs.len() as i64);
            assert_eq!(
                row["total_duration"].as_f64().unwrap(),
                s.duration_ms() as f64 / 1000.0
            );
            assert!(
                (row["total_cost"].as_f64().unwrap() - s.cost_micros() as f64 / 1e6).abs() < 1e-12
            );
            assert_eq!(row["total_tokens"], s.tokens());
            let agents: BTreeSet<&str> = row["agents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(agents, s.runs.iter().map(|r| r.agent).collect());
            assert_eq!(
                row["error_count"],
                s.runs.iter().filter(|r| r.error).count() as i64
            );
        }

        // Filters, alone and combined, each against the seed.
        type Case = (String, Box<dyn Fn(&Seed) -> bool>);
        let cases: Vec<Case> = vec![
            (
                "search=alpha".into(),
                Box::new(|s: &Seed| contains_ci(&s.id, "alpha")),
            ),
            (
                "search=CONV-0".into(),
                Box::new(|s: &Seed| contains_ci(&s.id, "conv-0")),
            ),
            ("search=%25".into(), Box::new(|s: &Seed| s.id.contains('%'))),
            ("search=_".into(), Box::new(|s: &Seed| s.id.contains('_'))),
            (
                "search=team%2Fchat%201".into(),
                Box::new(|s: &Seed| s.id.contains("team/chat 1")),
            ),
            (
                "q=search".into(),
                Box::new(|s: &Seed| {
                    contains_ci(&s.id, "search")
                        || s.has(|r| {
                            r.tools.iter().any(|t| contains_ci(t, "search"))
                                || contains_ci(r.model, "search")
                        })
                }),
            ),
            (
                "q=mini".into(),
                Box::new(|s: &Seed| {
                    contains_ci(&s.id, "mini")
                        || s.has(|r| {
                            contains_ci(r.model, "mini")
                                || r.tools.iter().any(|t| contains_ci(t, "mini"))
                        })
                }),
            ),
            (
                "q=abc00".into(),
                Box::new(|s: &Seed| {
                    contains_ci(&s.id, "abc00")
                        || s.has(|r| {
                            contains_ci(r.model, "abc00")
                                || r.tools.iter().any(|t| contains_ci(t, "abc00"))
                        })
                }),
            ),
            (
                "agent=Reviewer".into(),
                Box::new(|s: &Seed| s.has(|r| r.agent == "Reviewer")),
            ),
            (
                "agent=reviewer".into(),
                Box::new(|s: &Seed| s.has(|r| r.agent == "reviewer")),
            ),
            (
                "model=gpt-4o".into(),
                Box::new(|s: &Seed| s.has(|r| r.model == "gpt-4o")),
            ),
            (
                "tool=search".into(),
                Box::new(|s: &Seed| s.has(|r| r.tools.contains(&"search"))),
            ),
            (
                "user=%C3%9Cn%C3%AFcode".into(),
                Box::new(|s: &Seed| s.has(|r| r.user == Some("Ünïcode"))),
            ),
            (
                "status=error".into(),
                Box::new(|s: &Seed| s.has(|r| r.error)),
            ),
            (
                format!("start={}", encode(&at(2400.0))),
                Box::new(|s: &Seed| s.last_activity() >= 2400.0),
            ),
            (
                format!("end={}", encode(&at(1200.0))),
                Box::new(|s: &Seed| s.first_run() <= 1200.0),
            ),
            (
                format!("start={}&end={}", encode(&at(960.0)), encode(&at(1920.0))),
                Box::new(|s: &Seed| s.last_activity() >= 960.0 && s.first_run() <= 1920.0),
            ),
            (
                "tool=search&model=gpt-4o&status=error".into(),
                Box::new(|s: &Seed| {
                    s.has(|r| r.tools.contains(&"search"))
                        && s.has(|r| r.model == "gpt-4o")
                        && s.has(|r| r.error)
                }),
            ),
            (
                "agent=planner&user=u1&search=conv".into(),
                Box::new(|s: &Seed| {
                    s.has(|r| r.agent == "planner")
                        && s.has(|r| r.user == Some("u1"))
                        && contains_ci(&s.id, "conv")
                }),
            ),
        ];
        let mut cases = cases;
        // Substrings of the id, of every length: under three characters no trigram helps and
        // every id is tested; LIKE's metacharacters are literal; only ASCII letters fold case.
        for text in [
            "a",
            "al",
            "alp",
            "ALPHA-0",
            "%",
            "_",
            "\\",
            "%_o",
            "ff\\4",
            "0%",
            "été",
            "Été",
            "TÉ",
            "tÉ",
            "Té",
            "-0",
            "sess_0000000000abc0",
            "zzzz",
            "team/chat 5",
        ] {
            let t = text.to_string();
            cases.push((
                format!("search={}", encode(text)),
                Box::new(move |s: &Seed| contains_ci(&s.id, &t)),
            ));
        }
        // `q` over ids, models and tools called, the same way.
        for text in [
            "a", "se", "sea", "SEARCH", "gpt-4o", "4o-m", "_", "%", "l_q", "Été", "zzzz", "ha-0",
        ] {
            let t = text.to_string();
            cases.push((
                format!("q={}", encode(text)),
                Box::new(move |s: &Seed| q_matches(s, &t)),
            ));
        }
        cases.push((
            "q=search&search=a&status=error".into(),
            Box::new(|s: &Seed| {
                q_matches(s, "search") && contains_ci(&s.id, "a") && s.has(|r| r.error)
            }),
        ));
        cases.push((
            "q=gpt&tool=fetch_url&user=u2".into(),
            Box::new(|s: &Seed| {
                q_matches(s, "gpt")
                    && s.has(|r| r.tools.contains(&"fetch_url"))
                    && s.has(|r| r.user == Some("u2"))
            }),
        ));
        for (query, filter) in &cases {
            for sort in ["-total_cost", "first_run", "-session_id"] {
                let page = list(format!("{query}&sort={sort}&limit=100")).await;
                let want = expected(&seeds, filter.as_ref(), sort);
                assert_eq!(ids(&page), want, "{}: {query}&sort={sort}", db.backend);
                assert_eq!(page["count"], want.len() as i64, "{}: {query}", db.backend);
                // A page from the middle of the matches.
                let page = list(format!("{query}&sort={sort}&limit=5&offset=3")).await;
                let middle: Vec<String> = want.iter().skip(3).take(5).cloned().collect();
                assert_eq!(
                    ids(&page),
                    middle,
                    "{}: {query}&sort={sort}&offset=3",
                    db.backend
                );
                assert_eq!(page["count"], want.len() as i64, "{}: {query}", db.backend);
            }
        }

        // Paging: exact count, stable pages, links that keep the other parameters.
        let all = expected(
            &seeds,
            &|s: &Seed| s.has(|r| r.agent == "planner"),
            "-run_count",
        );
        let p1 = list("agent=planner&sort=-run_count&limit=10".into()).await;
        assert_eq!(ids(&p1), all[..10.min(all.len())].to_vec());
        assert_eq!(p1["count"], all.len() as i64);
        assert_eq!(p1["previous"], Value::Null);
        assert_eq!(
            p1["next"],
            "?offset=10&limit=10&agent=planner&sort=-run_count"
        );
        let p2 = list("agent=planner&sort=-run_count&limit=10&offset=10".into()).await;
        assert_eq!(ids(&p2), all[10..20.min(all.len())].to_vec());
        assert_eq!(
            p2["previous"],
            "?offset=0&limit=10&agent=planner&sort=-run_count"
        );
        let last = list(format!(
            "agent=planner&sort=-run_count&limit=10&offset={}",
            all.len() - 1
        ))
        .await;
        assert_eq!(last["next"], Value::Null);
        assert_eq!(ids(&last).len(), 1);
        // A limit above 100 is treated as 100; the default is 25.
        assert_eq!(ids(&list("limit=500".into()).await).len() as i64, total);
        assert_eq!(ids(&list(String::new()).await).len(), 25);
        assert_eq!(list("limit=500".into()).await["next"], Value::Null);
    }
}

fn session_ids(page: &Value) -> BTreeSet<String> {
    ids(page).into_iter().collect()
}

#[tokio::test]
async fn a_merged_session_is_found_by_its_surviving_id_and_its_absorbed_runs() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        let run = |id: &str, minute: f64, tool: &str| {
            json!({"id": id, "started_at": at(minute), "duration_ms": 1000,
                   "model": "m-merge", "tools_called": [tool]})
        };
        // Two automatic sessions, more than the 30-minute gap apart …
        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &json!({"runs": [run("r1", 0.0, "alpha_tool"), run("r2", 50.0, "beta_tool")]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let sessions: Vec<String> = r.json()["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["session_id"].as_str().unwrap().to_string())
            .collect();
        let (first, second) = (sessions[0].clone(), sessions[1].clone());
        assert_ne!(first, second);
        // … until a run between them joins them: the earlier id survives.
        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &json!({"runs": [run("r3", 25.0, "gamma_tool")]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());

        let list = |query: String| {
            let app = app.clone();
            async move {
                let r = get(&app, &format!("/api/v1/observability/sessions/?{query}")).await;
                assert_eq!(r.status, 200, "{query}: {}", r.text());
                r.json()
            }
        };
        let only_first: BTreeSet<String> = [first.clone()].into();
        for query in [
            format!("search={first}"),
            format!("search={}", &first[first.len() - 7..]),
            format!("q={first}"),
            "q=beta_tool".to_string(),
            "tool=beta_tool".into(),
            "q=gamma".into(),
            "tool=alpha_tool".into(),
        ] {
            let page = list(query.clone()).await;
            assert_eq!(session_ids(&page), only_first, "{}: {query}", db.backend);
            assert_eq!(page["count"], 1, "{}: {query}", db.backend);
            assert_eq!(
                page["results"][0]["run_count"], 3,
                "{}: {query}",
                db.backend
            );
        }
        // The absorbed id resolves to the survivor's detail, but the list shows ids as they are.
        for query in [
            format!("search={second}"),
            format!("search={}", &second[second.len() - 7..]),
            format!("q={second}"),
        ] {
            let page = list(query.clone()).await;
            assert_eq!(page["count"], 0, "{}: {query}: {page}", db.backend);
        }
        let r = get(&app, &format!("/api/v1/observability/sessions/{second}/")).await;
        assert_eq!(r.json()["session_id"], first.as_str());
    }
}

#[tokio::test]
async fn values_past_the_sixty_second_of_a_kind_are_found_exactly() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        // 70 agents and 70 tools: the last ones share one bit on the session row. Every fourth
        // session has an error.
        let runs: Vec<Value> = (0..70)
            .map(|i| {
                json!({"id": format!("r{i}"), "session_id": format!("s{i:02}"),
                       "started_at": at(i as f64), "duration_ms": 1000,
                       "agent_name": format!("agent_{i:02}"), "model": "m",
                       "tools_called": [format!("tool_{i:02}"), format!("tool_{:02}", (i + 1) % 70)],
                       "status": if i % 4 == 0 { "error" } else { "success" }})
            })
            .collect();
        let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({ "runs": runs })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let list = |query: String| {
            let app = app.clone();
            async move {
                let r = get(
                    &app,
                    &format!("/api/v1/observability/sessions/?{query}&limit=100"),
                )
                .await;
                assert_eq!(r.status, 200, "{query}: {}", r.text());
                r.json()
            }
        };
        let set = |ids: &[usize]| -> BTreeSet<String> {
            ids.iter().map(|i| format!("s{i:02}")).collect()
        };
        for i in [0usize, 5, 61, 62, 63, 66, 69] {
            let page = list(format!("tool=tool_{i:02}")).await;
            assert_eq!(
                session_ids(&page),
                set(&[i, (i + 69) % 70]),
                "{}: tool {i}",
                db.backend
            );
            let page = list(format!("agent=agent_{i:02}")).await;
            assert_eq!(session_ids(&page), set(&[i]), "{}: agent {i}", db.backend);
        }
        // `q` matching values on both sides of the boundary.
        let page = list("q=tool_6".into()).await;
        let want: Vec<usize> = (59..70).collect();
        assert_eq!(session_ids(&page), set(&want), "{}", db.backend);
        assert_eq!(page["count"], 11);
        // With another filter: tools 00–09 are in sessions 00–09 and 69, tools 60–69 (some
        // sharing the bit) in 59–69; of those, every fourth had an error.
        let page = list("q=ol_0&status=error".into()).await;
        assert_eq!(session_ids(&page), set(&[0, 4, 8]), "{}", db.backend);
        assert_eq!(page["count"], 3);
        let page = list("q=ol_6&status=error".into()).await;
        assert_eq!(session_ids(&page), set(&[60, 64, 68]), "{}", db.backend);
        let page = list("tool=tool_66&status=error".into()).await;
        assert_eq!(session_ids(&page), set(&[]), "{}", db.backend);
        let page = list("tool=tool_65&status=error".into()).await;
        assert_eq!(session_ids(&page), set(&[64]), "{}", db.backend);
        assert_eq!(list("tool=tool_70".into()).await["count"], 0);
    }
}

/// Migrations of one backend up to `version`.
async fn migrate_to(db: &TestDb, version: i64) {
    use std::borrow::Cow;
    sqlx::any::install_default_drivers();
    let all = if db.backend == "sqlite" {
        sqlx::migrate!("migrations/sqlite")
    } else {
        sqlx::migrate!("migrations/postgres")
    };
    let up_to = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            all.iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    let url = if db.backend == "sqlite" {
        format!("{}?mode=rwc", db.url)
    } else {
        db.url.clone()
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    up_to.run(&pool).await.expect("migrate");
    pool.close().await;
}

#[tokio::test]
async fn sessions_stored_before_the_search_structures_are_found_after_migrating() {
    for db in databases().await {
        // A database as the first schema left it, with data in it …
        migrate_to(&db, 1).await;
        let seeds = seeds();
        {
            let store = {
                // Opening the store would migrate: write the old rows through a plain pool.
                let url = if db.backend == "sqlite" {
                    format!("{}?mode=rwc", db.url)
                } else {
                    db.url.clone()
                };
                sqlx::AnyPool::connect(&url).await.expect("connect")
            };
            for (n, s) in seeds.iter().enumerate() {
                let id = n as i64 + 1;
                let first = (s.first_run() * 60e6) as i64;
                let last = (s.last_activity() * 60e6) as i64;
                sqlx::query(
                    "INSERT INTO sessions (id, project_id, public_id, kind, run_count, first_run, \
                     last_activity, total_cost, error_count) VALUES ($1, 1, $2, 'explicit', $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(s.id.clone())
                .bind(s.runs.len() as i64)
                .bind(first)
                .bind(last)
                .bind(s.cost_micros() * 1000)
                .bind(s.runs.iter().filter(|r| r.error).count() as i64)
                .execute(&store)
                .await
                .expect("insert session");
                let mut facets: BTreeSet<(i64, &str)> = BTreeSet::new();
                for r in &s.runs {
                    facets.insert((0, r.agent));
                    facets.insert((1, r.model));
                    facets.extend(r.tools.iter().map(|t| (2, *t)));
                    facets.extend(r.user.map(|u| (3, u)));
                }
                for (kind, value) in facets {
                    sqlx::query(
                        "INSERT INTO session_facets (session_id, kind, value, runs, project_id) \
                         VALUES ($1, $2, $3, 1, 1)",
                    )
                    .bind(id)
                    .bind(kind)
                    .bind(value)
                    .execute(&store)
                    .await
                    .expect("insert facet");
                }
            }
            store.close().await;
        }
        // … is migrated when the server opens it.
        let store = open(&db).await;
        let app = app(store);
        type Case = (&'static str, Box<dyn Fn(&Seed) -> bool>);
        let cases: Vec<Case> = vec![
            (
                "search=alpha-0",
                Box::new(|s: &Seed| contains_ci(&s.id, "alpha-0")),
            ),
            (
                "search=0%25_",
                Box::new(|s: &Seed| contains_ci(&s.id, "0%_")),
            ),
            ("search=ha", Box::new(|s: &Seed| contains_ci(&s.id, "ha"))),
            ("q=sql", Box::new(|s: &Seed| q_matches(s, "sql"))),
            ("q=4o-mini", Box::new(|s: &Seed| q_matches(s, "4o-mini"))),
            (
                "model=gpt-4o",
                Box::new(|s: &Seed| s.has(|r| r.model == "gpt-4o")),
            ),
            (
                "tool=search",
                Box::new(|s: &Seed| s.has(|r| r.tools.contains(&"search"))),
            ),
            (
                "agent=Reviewer",
                Box::new(|s: &Seed| s.has(|r| r.agent == "Reviewer")),
            ),
            ("status=error", Box::new(|s: &Seed| s.has(|r| r.error))),
        ];
        for (query, filter) in &cases {
            let r = get(
                &app,
                &format!("/api/v1/observability/sessions/?{query}&sort=-total_cost&limit=100"),
            )
            .await;
            assert_eq!(r.status, 200, "{query}: {}", r.text());
            let want = expected(&seeds, filter.as_ref(), "-total_cost");
            assert!(!want.is_empty(), "{query} should match something");
            assert_eq!(ids(&r.json()), want, "{}: {query}", db.backend);
        }
    }
}

#[tokio::test]
async fn the_agent_list_holds_exactly_the_agents_in_use() {
    for db in databases().await {
        let (store, owner, key) = store_with_key(&db).await;
        let app = app(store.clone());
        let run = |id: &str, session: &str, agent: &str| json!({"id": id, "session_id": session, "started_at": at(1.0), "agent_name": agent});
        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &json!({"runs": [run("a", "s1", "writer"), run("b", "s2", "planner"),
                             run("c", "s2", "Reviewer")]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let agents = store.list_agents(owner.project_id).await.unwrap();
        assert_eq!(agents, ["Reviewer", "planner", "writer"], "{}", db.backend);
        // The only run of `planner` now names another agent: it leaves the list (and filter).
        let r = post_json(
            &app,
            "/api/v1/runs",
            Some(&key),
            &json!({"runs": [run("b", "s2", "writer")]}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let agents = store.list_agents(owner.project_id).await.unwrap();
        assert_eq!(agents, ["Reviewer", "writer"], "{}", db.backend);
        let page = get(&app, "/api/v1/observability/sessions/?agent=planner")
            .await
            .json();
        assert_eq!(page["count"], 0, "{}", db.backend);
        let page = get(
            &app,
            "/api/v1/observability/sessions/?agent=writer&sort=session_id",
        )
        .await
        .json();
        assert_eq!(ids(&page), ["s1", "s2"], "{}", db.backend);
        // With a second filter an agent is tested by its bit on the session row, which must
        // have followed the change too.
        let window = format!("start={}", at(0.0));
        for (agent, want) in [
            ("planner", &[][..]),
            ("writer", &["s1", "s2"][..]),
            ("Reviewer", &["s2"][..]),
        ] {
            let page = get(
                &app,
                &format!("/api/v1/observability/sessions/?agent={agent}&{window}&sort=session_id"),
            )
            .await
            .json();
            assert_eq!(ids(&page), want, "{}: {agent}", db.backend);
            assert_eq!(page["count"], want.len(), "{}: {agent}", db.backend);
        }
        // Another project's agents are not listed.
        assert!(store
            .list_agents(owner.project_id + 1)
            .await
            .unwrap()
            .is_empty());
    }
}

#[tokio::test]
async fn q_matching_more_tools_than_a_query_may_union_is_answered() {
    for db in databases().await {
        let (store, _, key) = store_with_key(&db).await;
        let app = app(store);
        // 600 tools containing "xyz", 15 per session; three sessions had an error. Filtered
        // further, the few matches once made the page start from one query arm per tool, and
        // SQLite refuses more than 500.
        let errors = [3usize, 17, 29];
        let runs: Vec<Value> = (0..40usize)
            .map(|i| {
                let tools: Vec<String> =
                    (0..15).map(|j| format!("xyz_{:03}", 15 * i + j)).collect();
                json!({"id": format!("r{i}"), "session_id": format!("s{i:02}"),
                       "started_at": at(i as f64), "duration_ms": 1000, "tools_called": tools,
                       "status": if errors.contains(&i) { "error" } else { "success" }})
            })
            .collect();
        let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({ "runs": runs })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        // 1,120 more, all sharing the row's last bit: too many to list, matched by name.
        let runs: Vec<Value> = (0..40usize)
            .map(|i| {
                let tools: Vec<String> =
                    (0..28).map(|j| format!("wide_{:04}", 28 * i + j)).collect();
                json!({"id": format!("w{i}"), "session_id": format!("w{i:02}"),
                       "started_at": at(i as f64), "duration_ms": 1000, "tools_called": tools,
                       "status": if errors.contains(&i) { "error" } else { "success" }})
            })
            .collect();
        let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({ "runs": runs })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let set = |ids: &[usize]| -> BTreeSet<String> {
            ids.iter().map(|i| format!("s{i:02}")).collect()
        };
        let wide = |ids: &[usize]| -> BTreeSet<String> {
            ids.iter().map(|i| format!("w{i:02}")).collect()
        };
        for (query, want) in [
            ("q=wide&status=error", wide(&errors)),
            ("q=wide_009&status=error&sort=session_id", wide(&[3])),
            (
                "q=ide_&status=error&end=2026-01-01T00:20:00Z",
                wide(&[3, 17]),
            ),
            ("q=wide", wide(&(0..40).collect::<Vec<_>>())),
            ("q=xyz&status=error", set(&errors)),
            ("q=xyz&status=error&sort=total_cost", set(&errors)),
            (
                "q=xyz_&status=error&end=2026-01-01T00:20:00Z",
                set(&[3, 17]),
            ),
            ("q=xyz", set(&(0..40).collect::<Vec<_>>())),
            ("q=xyz_59&status=error", set(&[])),
            ("q=xyz_44&status=error", set(&[29])),
        ] {
            let r = get(
                &app,
                &format!("/api/v1/observability/sessions/?{query}&limit=100"),
            )
            .await;
            assert_eq!(r.status, 200, "{}: {query}: {}", db.backend, r.text());
            let page = r.json();
            assert_eq!(session_ids(&page), want, "{}: {query}", db.backend);
            assert_eq!(page["count"], want.len(), "{}: {query}", db.backend);
        }
    }
}

#[tokio::test]
async fn an_offset_past_any_number_of_sessions_is_an_empty_page() {
    use threadline::model::query::parse_list_params;
    let seeds = seeds();
    for db in databases().await {
        let (store, owner, key) = store_with_key(&db).await;
        let app = app(store.clone());
        let runs: Vec<Value> = seeds
            .iter()
            .flat_map(|s| {
                s.runs
                    .iter()
                    .enumerate()
                    .map(move |(k, r)| run_json(s, k, r))
            })
            .collect();
        let r = post_json(&app, "/api/v1/runs", Some(&key), &json!({ "runs": runs })).await;
        assert_eq!(r.status, 200, "{}", r.text());
        // The largest offset the parameters allow reaches the store, which must not overflow
        // costing or paging it; anything larger is refused before (400, below).
        let offset = threadline::model::MAX_OFFSET.to_string();
        for filters in [
            &[("agent", "writer")][..],
            &[("agent", "writer"), ("status", "error")],
            &[("user", "u1"), ("status", "error")],
            &[("q", "search"), ("status", "error")],
            &[("search", "alpha"), ("model", "gpt-4o")],
        ] {
            let mut pairs: Vec<(String, String)> = filters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            pairs.push(("offset".into(), offset.clone()));
            let query = parse_list_params(&pairs, 0).expect("valid parameters");
            let page = store
                .list_sessions(owner.project_id, &query)
                .await
                .unwrap_or_else(|e| panic!("{}: {filters:?}: {e}", db.backend));
            assert!(page.results.is_empty(), "{}: {filters:?}", db.backend);
            pairs.pop();
            let first = store
                .list_sessions(owner.project_id, &parse_list_params(&pairs, 0).unwrap())
                .await
                .unwrap();
            assert_eq!(page.count, first.count, "{}: {filters:?}", db.backend);
        }
        // Through HTTP: the largest offset is an empty page that links back, a larger one a 400
        // naming the parameter (list and a session's runs alike).
        let r = get(
            &app,
            &format!("/api/v1/observability/sessions/?agent=writer&status=error&offset={offset}"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["results"].as_array().unwrap().len(), 0);
        assert!(r.json()["previous"].is_string());
        for path in [
            format!(
                "/api/v1/observability/sessions/?agent=writer&offset={}",
                i64::MAX
            ),
            format!(
                "/api/v1/observability/sessions/{}/?runs_offset={}",
                seeds[0].id,
                i64::MAX
            ),
        ] {
            let r = get(&app, &path).await;
            assert_eq!(r.status, 400, "{path}: {}", r.text());
            assert!(r.text().contains("offset"), "{path}: {}", r.text());
        }
    }
}

#[tokio::test]
async fn session_totals_stop_at_the_largest_integer() {
    use threadline::ingest::native::parse_batch;
    let big = 6_000_000_000_000_000_000i64;
    // Runs whose numbers the API would refuse, as a direct caller of the store may send them.
    let batch = |runs: Value| {
        let mut runs = parse_batch(json!({ "runs": runs }).to_string().as_bytes(), None, 1000)
            .expect("valid batch");
        for r in &mut runs {
            r.fields.cost_nanos = Some(big);
            r.fields.input_tokens = Some(big);
            r.fields.output_tokens = Some(big);
            r.fields.tokens_saved = Some(big);
        }
        runs
    };
    let run = |id: &str, session: &str, minute: f64| json!({"id": id, "session_id": session, "started_at": at(minute), "duration_ms": 1000});
    for db in databases().await {
        let (store, owner, _) = store_with_key(&db).await;
        let app = app(store.clone());
        // Two new runs of one request (summed before writing), a third added to the stored
        // totals by a later request, and a session recomputed after a run changes.
        store
            .ingest_native(
                owner,
                batch(json!([run("a1", "a", 0.0), run("a2", "a", 1.0)])),
            )
            .await
            .expect("ingest");
        store
            .ingest_native(
                owner,
                batch(json!([run("b1", "b", 0.0), run("a3", "a", 2.0)])),
            )
            .await
            .expect("ingest");
        store
            .ingest_native(owner, batch(json!([run("b2", "b", 1.0)])))
            .await
            .expect("ingest");
        let mut changed = batch(json!([run("b1", "b", 0.5)]));
        changed[0].fields.duration_us = Some(2_000_000);
        store.ingest_native(owner, changed).await.expect("ingest");
        for sort in ["-total_cost", "total_tokens", "-run_count"] {
            let r = get(
                &app,
                &format!("/api/v1/observability/sessions/?sort={sort}&limit=10"),
            )
            .await;
            assert_eq!(r.status, 200, "{}: {}", db.backend, r.text());
            let page = r.json();
            assert_eq!(page["count"], 2, "{}", db.backend);
            for row in page["results"].as_array().unwrap() {
                assert_eq!(row["total_tokens"], i64::MAX, "{}: {row}", db.backend);
                assert_eq!(
                    row["total_cost"].as_f64().unwrap(),
                    i64::MAX as f64 / 1e9,
                    "{}",
                    db.backend
                );
            }
        }
        for (id, runs, duration) in [("a", 3, 3.0), ("b", 2, 3.0)] {
            let r = get(&app, &format!("/api/v1/observability/sessions/{id}/")).await;
            assert_eq!(r.status, 200, "{}: {}", db.backend, r.text());
            let detail = r.json();
            let a = &detail["aggregates"];
            assert_eq!(a["run_count"], runs, "{}: {id}", db.backend);
            assert_eq!(a["total_duration"], duration, "{}: {id}", db.backend);
            for field in [
                "total_tokens",
                "input_tokens",
                "output_tokens",
                "tokens_saved",
            ] {
                assert_eq!(a[field], i64::MAX, "{}: {id} {field}", db.backend);
            }
            assert_eq!(detail["runs"][0]["tokens"], i64::MAX, "{}", db.backend);
        }
    }
}
