//! The sessions list endpoint (SPEC §5) against an independently computed expectation, on every
//! backend: each filter, each sort key both ways with the id tie-break, paging and links.

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

/// A deterministic, varied dataset: ties in every sort key, mixed-case ids, tools shared.
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
    (0..48)
        .map(|i| {
            let id = match i % 4 {
                0 => format!("conv-{i:03}"),
                1 => format!("Alpha-{i:03}"),
                2 => format!("sess_{:016x}", 0xabc000 + i),
                _ => format!("team/chat {i}"),
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

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
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

        // Every sort key, both ways, all rows (limit 100 > 48).
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
                assert_eq!(page["count"], 48);
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
        for (query, filter) in &cases {
            for sort in ["-total_cost", "first_run"] {
                let page = list(format!("{query}&sort={sort}&limit=100")).await;
                let want = expected(&seeds, filter.as_ref(), sort);
                assert_eq!(ids(&page), want, "{}: {query}&sort={sort}", db.backend);
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
        assert_eq!(ids(&list("limit=500".into()).await).len(), 48);
        assert_eq!(ids(&list(String::new()).await).len(), 25);
        assert_eq!(list("limit=500".into()).await["next"], Value::Null);
    }
}
