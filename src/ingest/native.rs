//! The native JSON runs API body (SPEC §3.1): decoding and validation into [`RunFields`].
//!
//! Validation collects *every* problem of *every* run so a client can fix a batch in one go;
//! the batch is written only when the list is empty.

use super::bounds::{
    check_chars, MAX_COST_USD, MAX_COUNT, MAX_DURATION_MS, MAX_LONG_NAME_CHARS, MAX_NAME_CHARS,
};
use super::run::RunFields;
use super::{json_size, ValueLimits};
use serde::Serialize;
use serde_json::{Map, Value};

pub const MAX_RUNS_PER_BATCH: usize = 1000;

/// One problem with one field of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldError {
    pub index: usize,
    pub field: String,
    pub error: String,
}

/// A validated native run: its client id (if any) and its fields.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeRun {
    pub id: Option<String>,
    pub fields: RunFields,
}

/// Why a body was refused as a whole.
#[derive(Debug, PartialEq)]
pub enum BatchError {
    /// Not JSON, or not `{"runs": [...]}`.
    Malformed(String),
    /// More runs than one batch may hold (a 413 for the caller).
    TooMany(String),
    /// Field problems, each located.
    Invalid(Vec<FieldError>),
}

/// Parses and validates a body with the default value limits. `header_session` is the
/// `X-Session-Id` header.
pub fn parse_batch(
    body: &[u8],
    header_session: Option<&str>,
    max_runs: usize,
) -> Result<Vec<NativeRun>, BatchError> {
    parse_batch_with(body, header_session, max_runs, &ValueLimits::default())
}

/// [`parse_batch`] with the server's configured value limits.
pub fn parse_batch_with(
    body: &[u8],
    header_session: Option<&str>,
    max_runs: usize,
    limits: &ValueLimits,
) -> Result<Vec<NativeRun>, BatchError> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| BatchError::Malformed(format!("body is not valid JSON: {e}")))?;
    // Text is moved out of the parsed document rather than copied: batches can be megabytes.
    let runs = match value.get_mut("runs") {
        Some(Value::Array(runs)) => runs,
        Some(_) => return Err(BatchError::Malformed("`runs` must be an array".into())),
        None => {
            return Err(BatchError::Malformed(
                "body must be an object with a `runs` array".into(),
            ))
        }
    };
    if runs.is_empty() {
        return Err(BatchError::Malformed(
            "`runs` must hold at least one run".into(),
        ));
    }
    if runs.len() > max_runs {
        return Err(BatchError::TooMany(format!(
            "`runs` holds {} runs; the limit per request is {max_runs}",
            runs.len()
        )));
    }
    let mut errors = Vec::new();
    if let Some(h) = header_session {
        if let Err(e) = limits.check_session_id(h) {
            errors.push(FieldError {
                index: 0,
                field: "X-Session-Id".into(),
                error: e,
            });
        }
    }
    let mut out = Vec::with_capacity(runs.len());
    for (index, run) in runs.iter_mut().enumerate() {
        let mut v = Validator {
            index,
            errors: &mut errors,
            limits,
        };
        if let Some(run) = v.run(run, header_session) {
            out.push(run);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(BatchError::Invalid(errors))
    }
}

struct Validator<'a> {
    index: usize,
    errors: &'a mut Vec<FieldError>,
    limits: &'a ValueLimits,
}

impl Validator<'_> {
    fn fail(&mut self, field: &str, error: impl Into<String>) {
        self.errors.push(FieldError {
            index: self.index,
            field: field.into(),
            error: error.into(),
        });
    }

    fn run(&mut self, value: &mut Value, header_session: Option<&str>) -> Option<NativeRun> {
        let Value::Object(obj) = value else {
            self.fail("", "each run must be a JSON object");
            return None;
        };
        let before = self.errors.len();
        let id = self.string(obj, "id", MAX_NAME_CHARS);
        let mut f = RunFields::default();
        match self.string(obj, "session_id", usize::MAX) {
            Some(s) => {
                if let Err(e) = self.limits.check_session_id(&s) {
                    self.fail("session_id", e);
                }
                f.session_id = Some(s);
                f.session_source = Some("session_id".into());
            }
            None => {
                if let Some(h) = header_session {
                    f.session_id = Some(h.to_string());
                    f.session_source = Some("X-Session-Id".into());
                }
            }
        }
        f.user_id = self.string(obj, "user_id", MAX_LONG_NAME_CHARS);
        f.agent_name = self.string(obj, "agent_name", MAX_NAME_CHARS);
        f.workflow_name = self.string(obj, "workflow_name", MAX_NAME_CHARS);
        // Absent and `null` alike: a run cannot be placed without its start.
        if matches!(obj.get("started_at"), None | Some(Value::Null)) {
            self.fail("started_at", "required: an RFC 3339 time");
        }
        f.started_at = self.time(obj, "started_at");
        f.completed_at = self.time(obj, "completed_at");
        if let (Some(s), Some(c)) = (f.started_at, f.completed_at) {
            if c < s {
                self.fail("completed_at", "must not be before started_at");
            } else if c - s > MAX_DURATION_MS as i64 * 1000 {
                self.fail(
                    "completed_at",
                    "must be at most a year (366 days) after started_at",
                );
            }
        }
        f.duration_us = self
            .non_negative(obj, "duration_ms", MAX_DURATION_MS)
            .map(|ms| (ms * 1000.0).round() as i64);
        match obj.get("status") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "success" => f.failed = Some(false),
            Some(Value::String(s)) if s == "error" => f.failed = Some(true),
            Some(_) => self.fail("status", "must be \"success\" or \"error\""),
        }
        f.error = self.text(obj, "error");
        f.model = self.string(obj, "model", MAX_LONG_NAME_CHARS);
        f.routed = self.boolean(obj, "routed");
        f.input_tokens = self.count(obj, "input_tokens");
        f.output_tokens = self.count(obj, "output_tokens");
        f.tokens_saved = self.count(obj, "tokens_saved");
        f.cost_nanos = self
            .non_negative(obj, "cost", MAX_COST_USD)
            .map(|usd| (usd * 1e9).round() as i64);
        f.tools_sent = self.count(obj, "tools_sent");
        f.tools_forwarded = self.strings(obj, "tools_forwarded");
        f.tools_called = self.strings(obj, "tools_called");
        f.latency_us = self.latency(obj);
        if let Some(t) = self.string(obj, "trace_id", 32) {
            if t.len() != 32
                || !t
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            {
                self.fail("trace_id", "must be 32 lowercase hex digits");
            }
            f.trace_id = Some(t);
        }
        f.input = self.text(obj, "input");
        f.output = self.text(obj, "output");
        match obj.get_mut("attributes") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                let mut too_large = Vec::new();
                for (key, value) in m.iter() {
                    if let Err(e) = self.limits.check_size(key.len() + json_size(value)) {
                        too_large.push((format!("attributes.{}", short(key)), e));
                    }
                }
                for (field, e) in too_large {
                    self.fail(&field, e);
                }
                f.attributes = Some(std::mem::take(m));
            }
            Some(_) => self.fail("attributes", "must be an object"),
        }
        if let Some(m) = &f.model {
            f.models = vec![m.clone()];
        }
        let mut id = id;
        if let Some(id) = &mut id {
            super::scrub_nul(id);
        }
        f.scrub_nul();
        (self.errors.len() == before).then_some(NativeRun { id, fields: f })
    }

    fn string(&mut self, obj: &mut Map<String, Value>, field: &str, max: usize) -> Option<String> {
        match obj.get_mut(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => {
                if max != usize::MAX {
                    if let Err(e) = check_chars(s, max) {
                        self.fail(field, e);
                    }
                }
                Some(std::mem::take(s))
            }
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    /// Free text (a message): any length up to the value limit, kept whole.
    fn text(&mut self, obj: &mut Map<String, Value>, field: &str) -> Option<String> {
        let s = self.string(obj, field, usize::MAX)?;
        if let Err(e) = self.limits.check_size(s.len()) {
            self.fail(field, e);
        }
        Some(s)
    }

    fn time(&mut self, obj: &mut Map<String, Value>, field: &str) -> Option<i64> {
        let text = self.string(obj, field, 64)?;
        match chrono::DateTime::parse_from_rfc3339(&text) {
            Ok(t) => Some(t.timestamp_micros()),
            Err(_) => {
                self.fail(field, format!("`{text}` is not an RFC 3339 time"));
                None
            }
        }
    }

    /// A number from 0 to `max` (see [`super::bounds`]).
    fn non_negative(&mut self, obj: &Map<String, Value>, field: &str, max: f64) -> Option<f64> {
        self.number(obj.get(field), field, max)
    }

    /// [`Self::non_negative`] for a value found elsewhere, `field` naming it in errors.
    fn number(&mut self, value: Option<&Value>, field: &str, max: f64) -> Option<f64> {
        match value {
            None | Some(Value::Null) => None,
            Some(value) => {
                let x = bounded_number(value, max);
                if x.is_none() {
                    self.fail(field, format!("must be a number from 0 to {max}"));
                }
                x
            }
        }
    }

    /// An integer from 0 to [`MAX_COUNT`].
    fn count(&mut self, obj: &Map<String, Value>, field: &str) -> Option<i64> {
        match obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(x) if (0..=MAX_COUNT).contains(&x) => Some(x),
                _ => {
                    self.fail(field, format!("must be an integer from 0 to {MAX_COUNT}"));
                    None
                }
            },
            Some(_) => {
                self.fail(field, format!("must be an integer from 0 to {MAX_COUNT}"));
                None
            }
        }
    }

    fn boolean(&mut self, obj: &Map<String, Value>, field: &str) -> Option<bool> {
        match obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.fail(field, "must be true or false");
                None
            }
        }
    }

    fn strings(&mut self, obj: &mut Map<String, Value>, field: &str) -> Option<Vec<String>> {
        match obj.get_mut(field) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s)
                            if !s.is_empty() && check_chars(s, MAX_LONG_NAME_CHARS).is_ok() =>
                        {
                            out.push(std::mem::take(s))
                        }
                        _ => {
                            self.fail(
                                field,
                                format!(
                                    "must be an array of tool names (strings of 1–{MAX_LONG_NAME_CHARS} characters)"
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.fail(field, "must be an array of strings");
                None
            }
        }
    }

    fn latency(&mut self, obj: &Map<String, Value>) -> [Option<i64>; 4] {
        let mut out = [None; 4];
        match obj.get("latency_ms") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for key in m.keys() {
                    if !super::run::PHASES.contains(&key.as_str()) {
                        self.fail(
                            &format!("latency_ms.{}", short(key)),
                            "unknown phase; expected dedup, compression, tool_routing or upstream",
                        );
                    }
                }
                for (i, phase) in super::run::PHASES.iter().enumerate() {
                    out[i] = self
                        .number(
                            m.get(*phase),
                            &format!("latency_ms.{phase}"),
                            MAX_DURATION_MS,
                        )
                        .map(|ms| (ms * 1000.0).round() as i64);
                }
            }
            Some(_) => self.fail("latency_ms", "must be an object of phase timings"),
        }
        out
    }
}

/// A JSON number from 0 to `max` (JSON numbers are always finite).
fn bounded_number(value: &Value, max: f64) -> Option<f64> {
    value.as_f64().filter(|x| (0.0..=max).contains(x))
}

/// A client-chosen name short enough to quote in an error.
fn short(name: &str) -> String {
    if name.chars().count() <= 64 {
        name.to_string()
    } else {
        format!("{}…", name.chars().take(64).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Vec<NativeRun>, BatchError> {
        parse_batch(body.as_bytes(), None, MAX_RUNS_PER_BATCH)
    }

    #[test]
    fn a_full_run_parses() {
        let runs = parse(
            r#"{"runs":[{"id":"r1","session_id":"s1","user_id":"u","agent_name":"a",
            "workflow_name":"w","started_at":"2026-02-07T10:00:00.123456Z","duration_ms":2100.5,
            "status":"error","error":"boom","model":"gpt-4o","routed":true,"input_tokens":10,
            "output_tokens":5,"tokens_saved":3,"cost":0.0045,"tools_sent":12,
            "tools_forwarded":["search"],"tools_called":["search"],
            "latency_ms":{"dedup":1.5,"upstream":900},"trace_id":"0123456789abcdef0123456789abcdef",
            "input":"hi","output":"hello","attributes":{"k":1}}]}"#,
        )
        .unwrap();
        let f = &runs[0].fields;
        assert_eq!(runs[0].id.as_deref(), Some("r1"));
        assert_eq!(f.started_at, Some(1_770_458_400_123_456));
        assert_eq!(f.duration_us, Some(2_100_500));
        assert_eq!(f.failed, Some(true));
        assert_eq!(f.cost_nanos, Some(4_500_000));
        assert_eq!(f.latency_us, [Some(1500), None, None, Some(900_000)]);
        assert_eq!(f.session_source.as_deref(), Some("session_id"));
    }

    #[test]
    fn header_session_applies_to_runs_without_their_own() {
        let body = r#"{"runs":[{"started_at":"2026-01-01T00:00:00Z"},
                       {"started_at":"2026-01-01T00:00:00Z","session_id":"own"}]}"#;
        let runs = parse_batch(body.as_bytes(), Some("hdr"), 10).unwrap();
        assert_eq!(runs[0].fields.session_id.as_deref(), Some("hdr"));
        assert_eq!(
            runs[0].fields.session_source.as_deref(),
            Some("X-Session-Id")
        );
        assert_eq!(runs[1].fields.session_id.as_deref(), Some("own"));
    }

    #[test]
    fn every_problem_is_listed_with_index_and_field() {
        let body = r#"{"runs":[{"started_at":"2026-01-01T00:00:00Z"},
            {"started_at":"yesterday","cost":-1,"status":"meh","trace_id":"XYZ","tools_called":[1]},
            {"input_tokens":1.5}]}"#;
        let Err(BatchError::Invalid(errors)) = parse(body) else {
            panic!("expected errors")
        };
        let fields: Vec<(usize, &str)> =
            errors.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert!(fields.contains(&(1, "started_at")));
        assert!(fields.contains(&(1, "cost")));
        assert!(fields.contains(&(1, "status")));
        assert!(fields.contains(&(1, "trace_id")));
        assert!(fields.contains(&(1, "tools_called")));
        assert!(fields.contains(&(2, "started_at")));
        assert!(fields.contains(&(2, "input_tokens")));
        assert!(!fields.iter().any(|(i, _)| *i == 0));
    }

    #[test]
    fn a_null_start_is_a_missing_start() {
        let Err(BatchError::Invalid(errors)) = parse(r#"{"runs":[{"started_at":null}]}"#) else {
            panic!("a run without a start is refused")
        };
        assert_eq!(errors[0].field, "started_at");
    }

    #[test]
    fn malformed_bodies_are_refused_whole() {
        assert!(matches!(parse("nope"), Err(BatchError::Malformed(_))));
        assert!(matches!(parse("{}"), Err(BatchError::Malformed(_))));
        assert!(matches!(
            parse(r#"{"runs":[]}"#),
            Err(BatchError::Malformed(_))
        ));
        let many = format!(r#"{{"runs":[{}]}}"#, ["{}"; 3].join(","));
        assert!(matches!(
            parse_batch(many.as_bytes(), None, 2),
            Err(BatchError::TooMany(_))
        ));
    }

    #[test]
    fn end_before_start_and_bad_session_ids_fail() {
        let body = r#"{"runs":[{"started_at":"2026-01-01T00:00:10Z","completed_at":"2026-01-01T00:00:00Z","session_id":""}]}"#;
        let Err(BatchError::Invalid(errors)) = parse(body) else {
            panic!()
        };
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn values_beyond_the_limits_are_located() {
        let limits = ValueLimits {
            max_value_bytes: 10,
            max_session_id_chars: 3,
        };
        let body = r#"{"runs":[{"started_at":"2026-01-01T00:00:00Z","session_id":"abcd",
            "input":"0123456789","output":"0123456789x","error":"e","attributes":{"k":"12345678","kk":"12345678"}}]}"#;
        let Err(BatchError::Invalid(errors)) = parse_batch_with(body.as_bytes(), None, 10, &limits)
        else {
            panic!("expected errors")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        // "k" + "\"12345678\"" is exactly 11 bytes: over; the input is exactly 10: fine.
        assert_eq!(
            fields,
            ["session_id", "output", "attributes.k", "attributes.kk"]
        );
        assert!(errors[1].error.contains("limit is 10 bytes"), "{errors:?}");
        let Err(BatchError::Invalid(errors)) = parse_batch_with(
            br#"{"runs":[{"started_at":"2026-01-01T00:00:00Z"}]}"#,
            Some("long"),
            10,
            &limits,
        ) else {
            panic!("expected errors")
        };
        assert_eq!(errors[0].field, "X-Session-Id");
    }

    #[test]
    fn nul_is_replaced_in_text_and_refused_in_session_ids() {
        let body = r#"{"runs":[{"id":"r\u0000","started_at":"2026-01-01T00:00:00Z","input":"a\u0000b",
            "model":"m\u0000","tools_called":["t\u0000"],"attributes":{"k":"\u0000"}}]}"#;
        let runs = parse(body).unwrap();
        let f = &runs[0].fields;
        assert_eq!(runs[0].id.as_deref(), Some("r\u{fffd}"));
        assert_eq!(f.input.as_deref(), Some("a\u{fffd}b"));
        assert_eq!(f.models, ["m\u{fffd}"]);
        assert_eq!(
            f.tools_called.as_deref(),
            Some(&["t\u{fffd}".to_string()][..])
        );
        // JSON documents keep it (escaped when stored).
        assert_eq!(f.attributes.as_ref().unwrap()["k"], "\u{0}");
        let bad = r#"{"runs":[{"started_at":"2026-01-01T00:00:00Z","session_id":"a\u0000b"}]}"#;
        assert!(matches!(parse(bad), Err(BatchError::Invalid(_))));
    }

    #[test]
    fn numbers_beyond_the_bounds_are_refused_by_field() {
        let run =
            |extra: &str| format!(r#"{{"runs":[{{"started_at":"2026-01-01T00:00:00Z"{extra}}}]}}"#);
        for (extra, field) in [
            (r#","input_tokens":9223372036854775807"#, "input_tokens"),
            (r#","output_tokens":1000000000001"#, "output_tokens"),
            (r#","tokens_saved":18446744073709551615"#, "tokens_saved"),
            (r#","tools_sent":1e13"#, "tools_sent"),
            (r#","cost":1e11"#, "cost"),
            (r#","cost":1000000.5"#, "cost"),
            (r#","duration_ms":1e300"#, "duration_ms"),
            (r#","duration_ms":31622400001"#, "duration_ms"),
            (r#","latency_ms":{"upstream":1e12}"#, "latency_ms.upstream"),
            (r#","completed_at":"2027-01-03T00:00:00Z""#, "completed_at"),
        ] {
            let Err(BatchError::Invalid(errors)) = parse(&run(extra)) else {
                panic!("{extra} is refused")
            };
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, field);
        }
        // At the bounds: accepted.
        let runs = parse(&run(
            r#","input_tokens":1000000000000,"cost":1000000,"duration_ms":31622400000,
            "latency_ms":{"dedup":31622400000},"completed_at":"2026-12-31T00:00:00Z""#,
        ))
        .unwrap();
        let f = &runs[0].fields;
        assert_eq!(f.input_tokens, Some(1_000_000_000_000));
        assert_eq!(f.cost_nanos, Some(1_000_000_000_000_000));
    }

    #[test]
    fn long_names_are_refused_by_field() {
        let long = |n: usize| "é".repeat(n);
        let body = format!(
            r#"{{"runs":[{{"started_at":"2026-01-01T00:00:00Z","id":"{}","user_id":"{}",
            "agent_name":"{}","workflow_name":"{}","model":"{}","tools_called":["{}"]}}]}}"#,
            long(129),
            long(257),
            long(129),
            long(129),
            long(257),
            long(257)
        );
        let Err(BatchError::Invalid(errors)) = parse(&body) else {
            panic!("expected errors")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "id",
                "user_id",
                "agent_name",
                "workflow_name",
                "model",
                "tools_called"
            ]
        );
        let body = format!(
            r#"{{"runs":[{{"started_at":"2026-01-01T00:00:00Z","id":"{}","user_id":"{}","model":"{}"}}]}}"#,
            long(128),
            long(256),
            long(256)
        );
        assert!(parse(&body).is_ok());
    }
}
