//! `threadline demo`: a realistic dataset written through the real ingestion functions (the
//! native runs path and the span path the OTLP endpoint uses), never straight into tables.
//!
//! Shapes: several agents each with its own tool set, six models with real-ish prices, 36 tools,
//! 200 users, explicit conversations and gateway traffic grouped automatically by inactivity
//! (spread over several API keys so each key's traffic has real silences), errors, gateway
//! routing, compression savings and per-phase latency, and a span tree for every run.

use std::fmt;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use crate::db::keys::KeyOwner;
use crate::db::{now_us, Result, Store};
use crate::ingest::native::NativeRun;
use crate::ingest::otlp::mapping::SpanRecord;
use crate::ingest::run::RunFields;

pub struct DemoOptions {
    pub sessions: usize,
    pub seed: u64,
    pub progress: bool,
}

pub struct DemoStats {
    pub sessions: usize,
    pub runs: usize,
    pub spans: usize,
    pub seconds: f64,
}

impl fmt::Display for DemoStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demo: {} sessions, {} runs, {} spans in {:.1} s ({:.0} runs/s, {:.0} spans/s incl. generation)",
            self.sessions,
            self.runs,
            self.spans,
            self.seconds,
            self.runs as f64 / self.seconds.max(1e-9),
            self.spans as f64 / self.seconds.max(1e-9)
        )
    }
}

/// The demo's world, shared with the benchmark's generator: models with their prices (USD
/// per 1M input and output tokens), agents with their tools and prompts, errors and answers.
pub(crate) const MODELS: [(&str, f64, f64); 6] = [
    ("gpt-4o", 2.5, 10.0),
    ("gpt-4o-mini", 0.15, 0.6),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-3-5-haiku", 0.8, 4.0),
    ("gemini-1.5-pro", 1.25, 5.0),
    ("llama-3.1-70b", 0.6, 0.8),
];

pub(crate) struct Agent {
    pub(crate) name: &'static str,
    pub(crate) workflow: &'static str,
    pub(crate) tools: &'static [&'static str],
    pub(crate) prompts: &'static [&'static str],
}

pub(crate) const AGENTS: [Agent; 6] = [
    Agent {
        name: "support-agent",
        workflow: "customer-support",
        tools: &[
            "lookup_order",
            "refund_order",
            "get_customer",
            "create_ticket",
            "kb_lookup",
            "escalate_human",
            "send_email",
            "check_inventory",
            "jira_search",
        ],
        prompts: &[
            "Where is my order #4411?",
            "I want a refund for the broken kettle",
            "My invoice shows the wrong address",
        ],
    },
    Agent {
        name: "research-agent",
        workflow: "deep-research",
        tools: &[
            "search_web",
            "fetch_url",
            "vector_search",
            "summarize_doc",
            "translate",
            "calculator",
            "python_exec",
            "kb_lookup",
        ],
        prompts: &[
            "Summarise recent work on retrieval-augmented generation",
            "Compare EU and US battery regulations",
            "What changed in the 2026 tax code?",
        ],
    },
    Agent {
        name: "code-reviewer",
        workflow: "pull-request-review",
        tools: &[
            "read_file",
            "git_diff",
            "git_blame",
            "run_tests",
            "lint_code",
            "open_pr",
            "jira_search",
            "python_exec",
        ],
        prompts: &[
            "Review PR #812: connection pool refactor",
            "Why is the nightly build red?",
            "Suggest tests for the parser change",
        ],
    },
    Agent {
        name: "sql-analyst",
        workflow: "analytics",
        tools: &[
            "run_sql",
            "list_tables",
            "calculator",
            "python_exec",
            "slack_post",
            "summarize_doc",
        ],
        prompts: &[
            "Weekly active users by plan for Q3",
            "Which cohorts churned after the price change?",
            "Top 10 SKUs by margin last month",
        ],
    },
    Agent {
        name: "travel-planner",
        workflow: "trip-planning",
        tools: &[
            "get_weather",
            "book_flight",
            "search_flights",
            "calendar_lookup",
            "create_event",
            "currency_convert",
            "geocode",
            "send_email",
        ],
        prompts: &[
            "Plan three days in Lisbon in May",
            "Cheapest flight to Tokyo next week",
            "Move my Berlin meeting and rebook the train",
        ],
    },
    Agent {
        name: "doc-assistant",
        workflow: "document-qa",
        tools: &[
            "read_file",
            "vector_search",
            "summarize_doc",
            "image_caption",
            "ocr_document",
            "translate",
            "kb_lookup",
            "write_file",
        ],
        prompts: &[
            "What does clause 7.2 of the MSA say?",
            "Extract the totals from these receipts",
            "Translate the onboarding guide to German",
        ],
    },
];

pub(crate) const ERRORS: [&str; 5] = [
    "upstream timeout after 30s",
    "rate limited by provider (429)",
    "tool execution failed: run_sql: relation \"orders_2026\" does not exist",
    "context length exceeded (131072 tokens)",
    "invalid tool arguments: missing field `date`",
];

pub(crate) const ANSWERS: [&str; 4] = [
    "Here is what I found, with sources.",
    "Done — I've updated the ticket and emailed the customer.",
    "The query returned 12 rows; the top result is highlighted below.",
    "I couldn't complete that; escalating to a human.",
];

/// Microseconds between two turns of a conversation: mostly quick follow-ups, sometimes the
/// user wanders off for a while (gap markers), always within the 30-minute window so automatic
/// sessions stay whole. Shared with the benchmark's generator.
pub(crate) fn pause_between_turns(rng: &mut StdRng) -> i64 {
    if rng.gen_bool(0.08) {
        rng.gen_range(6..25) * 60_000_000
    } else {
        rng.gen_range(4_000_000..240_000_000)
    }
}

fn hex(rng: &mut StdRng, bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rng.gen::<u8>()))
        .collect()
}

struct Pending {
    runs: Vec<(KeyOwner, NativeRun)>,
    spans: Vec<(KeyOwner, SpanRecord)>,
}

/// Generates `options.sessions` sessions ending before now.
pub async fn generate(store: &Store, options: &DemoOptions) -> Result<DemoStats> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(options.seed);
    let agents_key = store.internal_key("demo-agents").await?;
    // Gateway traffic without session ids: each key gets a timeline of conversations separated
    // by real silences, so automatic grouping finds them.
    let auto_share = 0.25;
    let auto_sessions = (options.sessions as f64 * auto_share).ceil() as usize;
    let per_key = 250;
    let mut gateway_keys = Vec::new();
    for i in 0..auto_sessions.div_ceil(per_key).max(1) {
        gateway_keys.push(
            store
                .internal_key(&format!("demo-gateway-{}", i + 1))
                .await?,
        );
    }
    let span_days = 30.0;
    let now = now_us();
    let range_start = now - (span_days * 86_400e6) as i64;
    let slot = (span_days * 86_400e6) as i64 / per_key as i64;

    let bar = if options.progress {
        let bar = indicatif::ProgressBar::new(options.sessions as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} demo [{bar:40}] {pos}/{len} sessions  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };

    let mut stats = DemoStats {
        sessions: options.sessions,
        runs: 0,
        spans: 0,
        seconds: 0.0,
    };
    let mut pending = Pending {
        runs: Vec::new(),
        spans: Vec::new(),
    };
    let users: Vec<String> = (1..=200).map(|i| format!("user_{i:03}")).collect();
    let mut auto_index = 0usize;
    for s in 0..options.sessions {
        let automatic = rng.gen_bool(auto_share) && auto_index < gateway_keys.len() * per_key;
        let (owner, session_id, start) = if automatic {
            let key = gateway_keys[auto_index % gateway_keys.len()];
            let n = (auto_index / gateway_keys.len()) as i64;
            auto_index += 1;
            // One conversation per slot, starting early enough that the slot's silence follows.
            let start = range_start + n * slot + rng.gen_range(0..slot / 3);
            (key, None, start)
        } else {
            // Recent days are busier.
            let age = (rng.gen::<f64>().powf(2.0) * span_days * 86_400e6) as i64;
            let id = if rng.gen_bool(0.5) {
                format!("conv-{}", hex(&mut rng, 6))
            } else {
                format!("sess_{}", hex(&mut rng, 8))
            };
            (agents_key, Some(id), now - age - 3_600_000_000)
        };
        let turns = 1 + (rng.gen::<f64>().powf(1.6) * 24.0) as usize;
        session(
            &mut rng,
            &mut pending,
            owner,
            session_id,
            start,
            turns,
            &users,
        );
        bar.inc(1);
        if pending.runs.len() >= 1000 || s + 1 == options.sessions {
            flush(store, &mut pending, &mut stats).await?;
        }
    }
    flush(store, &mut pending, &mut stats).await?;
    bar.finish_and_clear();
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

async fn flush(store: &Store, pending: &mut Pending, stats: &mut DemoStats) -> Result<()> {
    // Group by key as clients would send them: one request per key per batch.
    let mut runs = std::mem::take(&mut pending.runs);
    runs.sort_by_key(|(k, _)| k.key_id);
    for chunk in runs.chunk_by(|a, b| a.0 == b.0) {
        let owner = chunk[0].0;
        for batch in chunk.chunks(1000) {
            store
                .ingest_native(owner, batch.iter().map(|(_, r)| r.clone()).collect())
                .await?;
            stats.runs += batch.len();
        }
    }
    let mut spans = std::mem::take(&mut pending.spans);
    spans.sort_by_key(|(k, _)| k.key_id);
    for chunk in spans.chunk_by(|a, b| a.0 == b.0) {
        let owner = chunk[0].0;
        for batch in chunk.chunks(5000) {
            let records: Vec<SpanRecord> = batch.iter().map(|(_, s)| s.clone()).collect();
            store.ingest_spans(owner, &records).await?;
            stats.spans += batch.len();
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn session(
    rng: &mut StdRng,
    pending: &mut Pending,
    owner: KeyOwner,
    session_id: Option<String>,
    start: i64,
    turns: usize,
    users: &[String],
) {
    let agent = AGENTS.choose(rng).expect("agents");
    let gateway = session_id.is_none() || rng.gen_bool(0.6);
    let user = users.choose(rng).cloned();
    let primary = rng.gen_range(0..MODELS.len());
    let mut forwarded: Vec<String> = pick_tools(rng, agent, 3);
    let mut t = start;
    for turn in 0..turns {
        if turn > 0 {
            t += pause_between_turns(rng);
        }
        let routed = gateway && rng.gen_bool(0.3);
        let model_idx = if routed {
            rng.gen_range(0..MODELS.len())
        } else {
            primary
        };
        let (model, price_in, price_out) = MODELS[model_idx];
        let input_tokens: i64 = rng.gen_range(300..9000);
        let output_tokens: i64 = rng.gen_range(40..1500);
        let cost = input_tokens as f64 * price_in / 1e6 + output_tokens as f64 * price_out / 1e6;
        let duration_us: i64 = rng.gen_range(400_000..22_000_000);
        let failed = rng.gen_bool(0.04);
        if gateway && rng.gen_bool(0.15) {
            forwarded = pick_tools(rng, agent, 2);
        }
        let called: Vec<String> = forwarded
            .iter()
            .filter(|_| rng.gen_bool(0.45))
            .cloned()
            .collect();
        let trace_id = hex(rng, 16);
        let mut fields = RunFields {
            session_id: session_id.clone(),
            session_source: session_id.as_ref().map(|_| "session_id".to_string()),
            user_id: user.clone(),
            agent_name: Some(agent.name.to_string()),
            workflow_name: Some(agent.workflow.to_string()),
            started_at: Some(t),
            duration_us: Some(duration_us),
            failed: Some(failed),
            error: failed.then(|| ERRORS.choose(rng).expect("errors").to_string()),
            model: Some(model.to_string()),
            models: vec![model.to_string()],
            input_tokens: Some(input_tokens),
            output_tokens: Some(output_tokens),
            cost_nanos: Some((cost * 1e9).round() as i64),
            tools_called: Some(called.clone()),
            trace_id: Some(trace_id.clone()),
            input: Some(agent.prompts.choose(rng).expect("prompts").to_string()),
            output: (!failed).then(|| ANSWERS.choose(rng).expect("answers").to_string()),
            ..Default::default()
        };
        let mut upstream_us = duration_us;
        if gateway {
            let dedup = rng.gen_range(150..3_000);
            let compression = rng.gen_range(800..18_000);
            let routing = rng.gen_range(1_500..30_000);
            upstream_us = (duration_us - dedup - compression - routing).max(1000);
            fields.routed = Some(routed);
            fields.tokens_saved = Some((input_tokens as f64 * rng.gen_range(0.0..0.35)) as i64);
            fields.tools_sent = Some(agent.tools.len() as i64 + rng.gen_range(4..20));
            fields.tools_forwarded = Some(forwarded.clone());
            fields.latency_us = [
                Some(dedup),
                Some(compression),
                Some(routing),
                Some(upstream_us),
            ];
        }
        let mut attributes = Map::new();
        attributes.insert(
            "environment".into(),
            json!(if rng.gen_bool(0.8) {
                "production"
            } else {
                "staging"
            }),
        );
        attributes.insert("sdk".into(), json!("threadline-demo/1.0"));
        fields.attributes = Some(attributes);
        spans_for(
            rng,
            pending,
            owner,
            &fields,
            &trace_id,
            agent,
            model,
            upstream_us,
            &called,
        );
        pending.runs.push((
            owner,
            NativeRun {
                id: Some(format!("run_{}", hex(rng, 8))),
                fields,
            },
        ));
    }
}

fn pick_tools(rng: &mut StdRng, agent: &Agent, min: usize) -> Vec<String> {
    let n = rng.gen_range(min..=agent.tools.len().min(min + 4));
    let mut tools: Vec<String> = agent
        .tools
        .choose_multiple(rng, n)
        .map(|t| t.to_string())
        .collect();
    tools.sort();
    tools
}

#[allow(clippy::too_many_arguments)]
fn spans_for(
    rng: &mut StdRng,
    pending: &mut Pending,
    owner: KeyOwner,
    run: &RunFields,
    trace_id: &str,
    agent: &Agent,
    model: &str,
    upstream_us: i64,
    called: &[String],
) {
    let start_ns = run.started_at.unwrap_or(0) * 1000;
    let end_ns = start_ns + run.duration_us.unwrap_or(0) * 1000;
    let root_id = hex(rng, 8);
    let mut resource = Map::new();
    resource.insert("service.name".into(), json!(agent.name));
    let span = |rng: &mut StdRng,
                parent: Option<&str>,
                name: String,
                category: &str,
                start: i64,
                end: i64,
                attributes: Map<String, Value>,
                error: Option<&str>| SpanRecord {
        trace_id: trace_id.to_string(),
        span_id: if parent.is_none() {
            root_id.clone()
        } else {
            hex(rng, 8)
        },
        parent_span_id: parent.map(str::to_string),
        name,
        kind: if category == "llm" {
            "client".into()
        } else {
            "internal".into()
        },
        category: category.to_string(),
        start_ns: start,
        end_ns: end,
        status_code: if error.is_some() {
            "error".into()
        } else {
            "unset".into()
        },
        status_message: error.map(str::to_string),
        attributes,
        resource: resource.clone(),
        scope: Some("threadline-demo".into()),
        events: Vec::new(),
    };
    let mut root_attrs = Map::new();
    root_attrs.insert("gen_ai.operation.name".into(), json!("invoke_agent"));
    root_attrs.insert("gen_ai.agent.name".into(), json!(agent.name));
    if let Some(s) = &run.session_id {
        root_attrs.insert("session.id".into(), json!(s));
    }
    root_attrs.insert(
        "input.value".into(),
        json!(run.input.clone().unwrap_or_default()),
    );
    let root = span(
        rng,
        None,
        format!("invoke_agent {}", agent.name),
        "agent",
        start_ns,
        end_ns,
        root_attrs,
        run.error.as_deref(),
    );
    let total = end_ns - start_ns;
    let mut cursor = start_ns + total / 50;
    let llm_end = cursor + (upstream_us * 1000).min(total) * 6 / 10;
    let mut llm_attrs = Map::new();
    llm_attrs.insert("gen_ai.operation.name".into(), json!("chat"));
    llm_attrs.insert("gen_ai.request.model".into(), json!(model));
    llm_attrs.insert(
        "gen_ai.usage.input_tokens".into(),
        json!(run.input_tokens.unwrap_or(0)),
    );
    llm_attrs.insert(
        "gen_ai.usage.output_tokens".into(),
        json!(run.output_tokens.unwrap_or(0)),
    );
    let llm = span(
        rng,
        Some(&root.span_id),
        format!("chat {model}"),
        "llm",
        cursor,
        llm_end,
        llm_attrs,
        None,
    );
    cursor = llm_end;
    pending.spans.push((owner, root.clone()));
    pending.spans.push((owner, llm));
    let tool_budget = (end_ns - cursor) / (called.len() as i64 + 2);
    for tool in called {
        let mut attrs = Map::new();
        attrs.insert("gen_ai.operation.name".into(), json!("execute_tool"));
        attrs.insert("gen_ai.tool.name".into(), json!(tool));
        let end = cursor + tool_budget.max(1000) * rng.gen_range(5..10) / 10;
        let s = span(
            rng,
            Some(&root.span_id),
            format!("execute_tool {tool}"),
            "tool",
            cursor,
            end,
            attrs,
            None,
        );
        pending.spans.push((owner, s));
        cursor = end;
    }
    if !called.is_empty() && cursor < end_ns {
        let mut attrs = Map::new();
        attrs.insert("gen_ai.operation.name".into(), json!("chat"));
        attrs.insert("gen_ai.request.model".into(), json!(model));
        let s = span(
            rng,
            Some(&root.span_id),
            format!("chat {model}"),
            "llm",
            cursor,
            end_ns - total / 100,
            attrs,
            None,
        );
        pending.spans.push((owner, s));
    }
}
