//! The storage and grouping suite, run against every backend (SQLite always, PostgreSQL when
//! available): runs in, sessions and exact aggregates out.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use proptest::prelude::*;
use threadline::db::keys::KeyOwner;
use threadline::db::Store;
use threadline::ingest::native::{parse_batch, NativeRun};
use threadline::model::ListQuery;

fn runs(json: serde_json::Value) -> Vec<NativeRun> {
    parse_batch(json.to_string().as_bytes(), None, 1000).expect("valid batch")
}

#[tokio::test]
async fn explicit_and_automatic_sessions_with_exact_aggregates() {
    for db in databases().await {
        let (store, owner, _) = store_with_key(&db).await;
        let ingested = store
            .ingest_native(
                owner,
                runs(serde_json::json!({"runs": [
                    {"id": "a1", "session_id": "conv-1", "started_at": at(0.0), "duration_ms": 1500,
                     "agent_name": "planner", "model": "gpt-4o", "input_tokens": 100, "output_tokens": 20,
                     "cost": 0.001, "tools_called": ["search", "search", "fetch"], "user_id": "u1"},
                    {"id": "a2", "session_id": "conv-1", "started_at": at(2.0), "duration_ms": 500,
                     "status": "error", "error": "boom", "agent_name": "writer", "model": "gpt-4o-mini",
                     "input_tokens": 10, "output_tokens": 5, "cost": 0.0002,
                     "latency_ms": {"dedup": 1, "compression": 2, "tool_routing": 7, "upstream": 90}},
                    {"id": "b1", "started_at": at(100.0), "duration_ms": 1000},
                    {"id": "b2", "started_at": at(130.0)},
                    {"id": "b3", "started_at": at(160.5), "completed_at": at(161.0)}
                ]})),
            )
            .await
            .unwrap();
        assert_eq!(ingested.len(), 5, "{}", db.backend);
        assert_eq!(ingested[0].session_id, "conv-1");
        // b1 and b2 are exactly 30:00 apart: same session. b3 is 30:30 after b2: a new one.
        assert_eq!(
            ingested[2].session_id, ingested[3].session_id,
            "{}",
            db.backend
        );
        assert_ne!(
            ingested[3].session_id, ingested[4].session_id,
            "{}",
            db.backend
        );
        assert!(ingested[2].session_id.starts_with("sess_"));

        let d = store
            .session_detail(owner.project_id, "conv-1", 100, 0)
            .await
            .unwrap()
            .unwrap();
        let a = &d.aggregates;
        assert_eq!(a.run_count, 2);
        assert_eq!(a.total_duration, 2.0);
        assert!((a.total_cost - 0.0012).abs() < 1e-12);
        assert_eq!(
            (a.total_tokens, a.input_tokens, a.output_tokens),
            (135, 110, 25)
        );
        assert_eq!(a.error_count, 1);
        assert_eq!(sorted(&a.agents), vec!["planner", "writer"]);
        assert_eq!(sorted(&a.models), vec!["gpt-4o", "gpt-4o-mini"]);
        assert_eq!(sorted(&a.tools), vec!["fetch", "search"]);
        assert_eq!(a.users, vec!["u1"]);
        assert_eq!(a.first_run, "2026-01-01T00:00:00Z");
        assert_eq!(a.last_activity, "2026-01-01T00:02:00.500Z");
        assert_eq!(a.gateway_runs, 1);
        // overhead = (1 + 2 + 7) / 500 ms duration = 2 %
        assert!(
            (a.avg_overhead_pct.unwrap() - 2.0).abs() < 1e-9,
            "{:?}",
            a.avg_overhead_pct
        );
        assert_eq!(d.grouping, "explicit");
        assert_eq!(d.grouped_by.as_deref(), Some("session_id"));
        assert_eq!(d.runs[0].tools_called, vec!["search", "search", "fetch"]);
        assert_eq!(d.runs[1].overhead_pct, Some(2.0));

        let auto = store
            .session_detail(owner.project_id, &ingested[2].session_id, 100, 0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(auto.grouping, "automatic");
        assert_eq!(auto.api_key.as_deref(), Some("test"));
        assert_eq!(auto.aggregates.run_count, 2);
        // b2 has no end: its start is its last activity.
        assert_eq!(
            auto.aggregates.last_activity,
            at(130.0).replace(".000000", "")
        );
    }
}

#[tokio::test]
async fn resending_a_batch_changes_nothing_and_updates_replace_fields() {
    for db in databases().await {
        let (store, owner, _) = store_with_key(&db).await;
        let batch = serde_json::json!({"runs": [
            {"id": "r1", "session_id": "s", "started_at": at(0.0), "cost": 0.5, "input_tokens": 10},
            {"id": "r2", "session_id": "s", "started_at": at(1.0), "cost": 0.25, "input_tokens": 5},
        ]});
        store
            .ingest_native(owner, runs(batch.clone()))
            .await
            .unwrap();
        let before = snapshot(&store, owner.project_id).await;
        store.ingest_native(owner, runs(batch)).await.unwrap();
        assert_eq!(
            snapshot(&store, owner.project_id).await,
            before,
            "{}",
            db.backend
        );

        // A newer copy of r2 replaces its fields; the totals follow exactly.
        store
            .ingest_native(owner, runs(serde_json::json!({"runs": [
                {"id": "r2", "session_id": "s", "started_at": at(1.0), "cost": 1.0, "input_tokens": 50}
            ]})))
            .await
            .unwrap();
        let d = store
            .session_detail(owner.project_id, "s", 10, 0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.aggregates.run_count, 2);
        assert!(
            (d.aggregates.total_cost - 1.5).abs() < 1e-12,
            "{}",
            db.backend
        );
        assert_eq!(d.aggregates.total_tokens, 60);
    }
}

#[tokio::test]
async fn a_late_run_bridging_two_automatic_sessions_merges_them_and_the_old_id_resolves() {
    for db in databases().await {
        let (store, owner, _) = store_with_key(&db).await;
        let first = store
            .ingest_native(
                owner,
                runs(serde_json::json!({"runs": [
                    {"id": "early", "started_at": at(0.0)},
                    {"id": "late", "started_at": at(50.0)},
                ]})),
            )
            .await
            .unwrap();
        let (early_id, late_id) = (first[0].session_id.clone(), first[1].session_id.clone());
        assert_ne!(early_id, late_id);
        let bridge = store
            .ingest_native(
                owner,
                runs(serde_json::json!({"runs": [{"id": "bridge", "started_at": at(25.0)}]})),
            )
            .await
            .unwrap();
        assert_eq!(
            bridge[0].session_id, early_id,
            "{}: the earlier session's id survives",
            db.backend
        );
        let merged = store
            .session_detail(owner.project_id, &late_id, 10, 0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            merged.session_id, early_id,
            "{}: the absorbed id resolves",
            db.backend
        );
        assert_eq!(merged.aggregates.run_count, 3);
        let ids: Vec<&str> = merged.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, vec!["early", "bridge", "late"]);
        let all = store
            .list_sessions(
                owner.project_id,
                &ListQuery {
                    limit: 25,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.count, 1);
    }
}

#[tokio::test]
async fn explicit_runs_keep_the_automatic_window_alive() {
    for db in databases().await {
        let (store, owner, _) = store_with_key(&db).await;
        let out = store
            .ingest_native(
                owner,
                runs(serde_json::json!({"runs": [
                    {"id": "a", "started_at": at(0.0)},
                    {"id": "x", "session_id": "explicit", "started_at": at(25.0)},
                    {"id": "b", "started_at": at(50.0)},
                ]})),
            )
            .await
            .unwrap();
        assert_eq!(out[0].session_id, out[2].session_id, "{}", db.backend);
        assert_eq!(out[1].session_id, "explicit");
    }
}

#[tokio::test]
async fn keys_are_isolated_and_revocable() {
    for db in databases().await {
        let store = open(&db).await;
        let (_, a) = store.create_key("alpha", "k").await.unwrap();
        let (_, b) = store.create_key("beta", "k").await.unwrap();
        let owner_a = store.verify_key(&a).await.unwrap().unwrap();
        let owner_b = store.verify_key(&b).await.unwrap().unwrap();
        assert_ne!(owner_a.project_id, owner_b.project_id);
        store
            .ingest_native(owner_a, runs(serde_json::json!({"runs": [{"session_id": "shared-name", "started_at": at(0.0)}]})))
            .await
            .unwrap();
        assert!(store
            .session_detail(owner_b.project_id, "shared-name", 10, 0)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .session_detail(owner_a.project_id, "shared-name", 10, 0)
            .await
            .unwrap()
            .is_some());
        assert!(store.verify_key("tl_not-a-key").await.unwrap().is_none());
        let prefix = store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.project == "alpha")
            .unwrap()
            .prefix;
        assert!(store.revoke_key(&prefix).await.unwrap());
        assert!(
            store.verify_key(&a).await.unwrap().is_none(),
            "{}",
            db.backend
        );
    }
}

// ---- order independence (SPEC §4 rule 4) ---------------------------------------------------

#[derive(Clone, Debug)]
struct GenRun {
    key: usize,
    id: String,
    minute: f64,
    session: Option<String>,
    cost_micros: u32,
    tokens: u32,
    tool: Option<&'static str>,
}

fn gen_runs() -> impl Strategy<Value = Vec<GenRun>> {
    // Minutes on a coarse grid around the 30-minute boundary so gaps of exactly 30 appear.
    let run = (
        0usize..2,
        0u32..48,
        prop::option::weighted(0.25, 0usize..3),
        0u32..5000,
        0u32..900,
        prop::option::of(0usize..3),
    );
    prop::collection::vec(run, 1..28).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(
                |(i, (key, slot, session, cost_micros, tokens, tool))| GenRun {
                    key,
                    id: format!("r{i}"),
                    minute: slot as f64 * 7.5,
                    session: session.map(|s| format!("conv-{s}")),
                    cost_micros,
                    tokens,
                    tool: tool.map(|t| ["search", "fetch", "sql"][t]),
                },
            )
            .collect()
    })
}

fn to_json(r: &GenRun) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": r.id, "started_at": at(r.minute), "duration_ms": 1000 + r.tokens,
        "cost": r.cost_micros as f64 / 1e6, "input_tokens": r.tokens, "output_tokens": r.tokens / 3,
        "agent_name": format!("agent-{}", r.key),
    });
    if let Some(s) = &r.session {
        v["session_id"] = s.clone().into();
    }
    if let Some(t) = r.tool {
        v["tools_called"] = serde_json::json!([t]);
    }
    v
}

async fn ingest_variant(
    store: &Store,
    keys: &[KeyOwner],
    runs_in_order: &[&GenRun],
    batch_sizes: &[usize],
) {
    let mut i = 0;
    let mut b = 0;
    while i < runs_in_order.len() {
        let size = batch_sizes[b % batch_sizes.len()].max(1);
        b += 1;
        let chunk = &runs_in_order[i..(i + size).min(runs_in_order.len())];
        i += size;
        // A client batches per key.
        for (k, owner) in keys.iter().enumerate() {
            let mine: Vec<serde_json::Value> = chunk
                .iter()
                .filter(|r| r.key == k)
                .map(|r| to_json(r))
                .collect();
            if !mine.is_empty() {
                let answered = store
                    .ingest_native(*owner, runs(serde_json::json!({ "runs": mine })))
                    .await
                    .unwrap();
                // Each run's answered session is where the run now is (merges included).
                for a in answered {
                    let detail = store
                        .session_detail(owner.project_id, &a.session_id, 1000, 0)
                        .await
                        .unwrap()
                        .unwrap_or_else(|| {
                            panic!("run {} answered missing session {}", a.id, a.session_id)
                        });
                    assert_eq!(detail.session_id, a.session_id, "answered an alias");
                    assert!(
                        detail.runs.iter().any(|r| r.id == a.id),
                        "run {} is not in its answered session {}",
                        a.id,
                        a.session_id
                    );
                }
            }
        }
    }
}

/// The expected partition, computed independently of the store: explicit ids group by id;
/// the rest group per key by gaps between consecutive starts of all the key's runs.
fn expected_partition(runs: &[GenRun]) -> BTreeSet<Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in 0..2 {
        let mut mine: Vec<&GenRun> = runs.iter().filter(|r| r.key == key).collect();
        mine.sort_by(|a, b| a.minute.partial_cmp(&b.minute).unwrap());
        let mut chain = 0;
        for (i, r) in mine.iter().enumerate() {
            if i > 0 && r.minute - mine[i - 1].minute > 30.0 {
                chain += 1;
            }
            if r.session.is_none() {
                groups
                    .entry(format!("auto-{key}-{chain}"))
                    .or_default()
                    .push(r.id.clone());
            }
        }
    }
    for r in runs {
        if let Some(s) = &r.session {
            groups
                .entry(format!("explicit-{s}"))
                .or_default()
                .push(r.id.clone());
        }
    }
    groups
        .into_values()
        .map(|mut ids| {
            ids.sort_by_key(|id| {
                let r = runs.iter().find(|r| &r.id == id).unwrap();
                ((r.minute * 1000.0) as i64, id.clone())
            });
            ids
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn any_arrival_order_and_batching_gives_the_same_sessions(
        runs_gen in gen_runs(),
        perm_seed in any::<u64>(),
        batch_sizes in prop::collection::vec(1usize..7, 1..4),
        resend in prop::collection::vec(any::<bool>(), 28),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(async {
            for db in databases().await {
                let store = open(&db).await;
                // Four datasets in four projects of one database: in order; shuffled and
                // re-batched; shuffled with part of it sent twice; and with part of it first sent
                // with other start times and explicit ids, then corrected (runs move, chains
                // split and sessions are emptied on the way).
                let moved: Vec<GenRun> = runs_gen
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| resend[(i + 7) % resend.len()])
                    .map(|(i, r)| GenRun {
                        minute: (r.minute + 45.0 + (i % 3) as f64 * 15.0) % 360.0,
                        session: if i % 2 == 0 { Some("conv-wrong".into()) } else { None },
                        ..r.clone()
                    })
                    .collect();
                let mut snaps = Vec::new();
                for variant in 0..4 {
                    let project = format!("variant-{variant}");
                    let mut keys = Vec::new();
                    for k in 0..2 {
                        let (_, secret) = store.create_key(&project, &format!("key-{k}")).await.unwrap();
                        keys.push(store.verify_key(&secret).await.unwrap().unwrap());
                    }
                    let mut order: Vec<&GenRun> = runs_gen.iter().collect();
                    if variant == 0 {
                        order.sort_by(|a, b| a.minute.partial_cmp(&b.minute).unwrap());
                    } else {
                        let mut s = perm_seed.wrapping_add(variant as u64);
                        for i in (1..order.len()).rev() {
                            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                            order.swap(i, (s >> 33) as usize % (i + 1));
                        }
                    }
                    if variant == 2 {
                        let again: Vec<&GenRun> = order.iter().enumerate().filter(|(i, _)| resend[*i % resend.len()]).map(|(_, r)| *r).collect();
                        order.extend(again);
                    }
                    if variant == 3 {
                        let mut first: Vec<&GenRun> = moved.iter().collect();
                        first.extend(order);
                        order = first;
                    }
                    let sizes = if variant == 0 { vec![1000] } else { batch_sizes.clone() };
                    ingest_variant(&store, &keys, &order, &sizes).await;
                    snaps.push(snapshot(&store, keys[0].project_id).await);
                }
                let partition: BTreeSet<Vec<String>> = snaps[0].iter().map(|(_, _, ids, _)| ids.clone()).collect();
                assert_eq!(partition, expected_partition(&runs_gen), "{}: partition differs from the reference", db.backend);
                assert_eq!(snaps[0], snaps[1], "{}: shuffled and re-batched differs", db.backend);
                assert_eq!(snaps[0], snaps[2], "{}: shuffled with re-sends differs", db.backend);
                assert_eq!(snaps[0], snaps[3], "{}: corrected runs differ", db.backend);
            }
        });
    }
}
