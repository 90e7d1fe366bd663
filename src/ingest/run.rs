//! The fields of one run, as each source reports them, and how sources combine.
//!
//! A run can be described by a native JSON run, by the spans of its trace, or by both (a native
//! run whose `trace_id` matches). Each source produces a partial [`RunFields`]; the stored run is
//! the native fields laid over the span-derived ones ([`RunFields::overlay`]) and then completed
//! with defaults ([`RunFields::resolve`]). Keeping both sources lets either arrive first.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Index of each gateway phase in latency arrays.
pub const PHASES: [&str; 4] = ["dedup", "compression", "tool_routing", "upstream"];

/// A run as one source describes it: every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFields {
    pub session_id: Option<String>,
    /// Which key supplied the session id (`session_id`, `X-Session-Id`, `gen_ai.conversation.id`…).
    pub session_source: Option<String>,
    pub user_id: Option<String>,
    pub agent_name: Option<String>,
    pub workflow_name: Option<String>,
    /// Epoch microseconds.
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub duration_us: Option<i64>,
    pub failed: Option<bool>,
    pub error: Option<String>,
    pub model: Option<String>,
    /// Every model the run used (a run may make several LLM calls).
    pub models: Vec<String>,
    pub routed: Option<bool>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub tokens_saved: Option<i64>,
    /// Cost in nano-USD: integers keep session sums exact.
    pub cost_nanos: Option<i64>,
    pub tools_sent: Option<i64>,
    pub tools_forwarded: Option<Vec<String>>,
    pub tools_called: Option<Vec<String>>,
    /// Gateway phases in microseconds, in [`PHASES`] order.
    pub latency_us: [Option<i64>; 4],
    pub trace_id: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub attributes: Option<Map<String, Value>>,
}

/// A run with every field decided, as stored and shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub session_id: Option<String>,
    pub session_source: Option<String>,
    pub user_id: Option<String>,
    pub agent_name: String,
    pub workflow_name: String,
    pub started_at: i64,
    pub completed_at: Option<i64>,
    pub duration_us: Option<i64>,
    pub failed: bool,
    pub error: Option<String>,
    pub model: Option<String>,
    pub models: Vec<String>,
    pub routed: Option<bool>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub tokens_saved: i64,
    pub cost_nanos: i64,
    pub tools_sent: Option<i64>,
    pub tools_forwarded: Option<Vec<String>>,
    pub tools_called: Vec<String>,
    pub latency_us: [Option<i64>; 4],
    pub trace_id: Option<String>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub attributes: Map<String, Value>,
}

impl RunFields {
    /// Every text field with NUL replaced (see [`super::scrub_nul`]).
    pub fn scrub_nul(&mut self) {
        let texts = [
            &mut self.session_id,
            &mut self.session_source,
            &mut self.user_id,
            &mut self.agent_name,
            &mut self.workflow_name,
            &mut self.error,
            &mut self.model,
            &mut self.trace_id,
            &mut self.input,
            &mut self.output,
        ];
        for text in texts.into_iter().flatten() {
            super::scrub_nul(text);
        }
        let lists = [
            Some(&mut self.models),
            self.tools_forwarded.as_mut(),
            self.tools_called.as_mut(),
        ];
        for list in lists.into_iter().flatten() {
            list.iter_mut().for_each(super::scrub_nul);
        }
    }

    /// `self` (the native run) wins wherever it gives a value; `under` (span-derived) fills gaps.
    pub fn overlay(&self, under: &RunFields) -> RunFields {
        fn pick<T: Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
            a.clone().or_else(|| b.clone())
        }
        let mut latency = self.latency_us;
        for (i, phase) in latency.iter_mut().enumerate() {
            *phase = phase.or(under.latency_us[i]);
        }
        let mut attributes = under.attributes.clone();
        if let Some(own) = &self.attributes {
            attributes.get_or_insert_with(Map::new).extend(own.clone());
        }
        let mut models = self.models.clone();
        for m in &under.models {
            if !models.contains(m) {
                models.push(m.clone());
            }
        }
        // The session and where it came from travel together.
        let (session_id, session_source) = if self.session_id.is_some() {
            (self.session_id.clone(), self.session_source.clone())
        } else {
            (under.session_id.clone(), under.session_source.clone())
        };
        RunFields {
            session_id,
            session_source,
            user_id: pick(&self.user_id, &under.user_id),
            agent_name: pick(&self.agent_name, &under.agent_name),
            workflow_name: pick(&self.workflow_name, &under.workflow_name),
            started_at: pick(&self.started_at, &under.started_at),
            completed_at: pick(&self.completed_at, &under.completed_at),
            duration_us: pick(&self.duration_us, &under.duration_us),
            failed: pick(&self.failed, &under.failed),
            error: pick(&self.error, &under.error),
            model: pick(&self.model, &under.model),
            models,
            routed: pick(&self.routed, &under.routed),
            input_tokens: pick(&self.input_tokens, &under.input_tokens),
            output_tokens: pick(&self.output_tokens, &under.output_tokens),
            tokens_saved: pick(&self.tokens_saved, &under.tokens_saved),
            cost_nanos: pick(&self.cost_nanos, &under.cost_nanos),
            tools_sent: pick(&self.tools_sent, &under.tools_sent),
            tools_forwarded: pick(&self.tools_forwarded, &under.tools_forwarded),
            tools_called: pick(&self.tools_called, &under.tools_called),
            latency_us: latency,
            trace_id: pick(&self.trace_id, &under.trace_id),
            input: pick(&self.input, &under.input),
            output: pick(&self.output, &under.output),
            attributes,
        }
    }

    /// Completes the fields with defaults. `None` when there is no start time yet (cannot happen
    /// for validated native runs, nor for traces with at least one span).
    pub fn resolve(&self) -> Option<Run> {
        let started_at = self.started_at?;
        let (completed_at, duration_us) = match (self.completed_at, self.duration_us) {
            (Some(end), _) => (Some(end), Some((end - started_at).max(0))),
            (None, Some(d)) => (Some(started_at + d), Some(d)),
            (None, None) => (None, None),
        };
        let mut models = self.models.clone();
        if let Some(m) = &self.model {
            if !models.contains(m) {
                models.insert(0, m.clone());
            }
        }
        let error = self.error.clone();
        Some(Run {
            session_id: self.session_id.clone(),
            session_source: self.session_source.clone(),
            user_id: self.user_id.clone(),
            agent_name: self.agent_name.clone().unwrap_or_else(|| "default".into()),
            workflow_name: self
                .workflow_name
                .clone()
                .unwrap_or_else(|| "default".into()),
            started_at,
            completed_at,
            duration_us,
            failed: self.failed.unwrap_or(false),
            error,
            model: self.model.clone().or_else(|| models.first().cloned()),
            models,
            routed: self.routed,
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            tokens_saved: self.tokens_saved.unwrap_or(0),
            cost_nanos: self.cost_nanos.unwrap_or(0),
            tools_sent: self.tools_sent,
            tools_forwarded: self.tools_forwarded.clone(),
            tools_called: self.tools_called.clone().unwrap_or_default(),
            latency_us: self.latency_us,
            trace_id: self.trace_id.clone(),
            input: self.input.clone(),
            output: self.output.clone(),
            attributes: self.attributes.clone().unwrap_or_default(),
        })
    }
}

impl Run {
    /// Last activity: the run's end, or its start when it has no end.
    pub fn activity_at(&self) -> i64 {
        self.completed_at.unwrap_or(self.started_at)
    }

    /// (overhead, total request time) in µs when the run reported gateway phases.
    pub fn overhead(&self) -> Option<(i64, i64)> {
        crate::sessionize::overhead_parts(self.latency_us, self.duration_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_fields_win_and_spans_fill_gaps() {
        let native = RunFields {
            model: Some("gpt-4o".into()),
            cost_nanos: Some(5),
            latency_us: [Some(1), None, None, None],
            ..Default::default()
        };
        let spans = RunFields {
            started_at: Some(100),
            completed_at: Some(300),
            model: Some("gpt-4o-mini".into()),
            models: vec!["gpt-4o-mini".into()],
            input_tokens: Some(7),
            latency_us: [Some(9), Some(2), None, None],
            session_id: Some("conv".into()),
            session_source: Some("session.id".into()),
            ..Default::default()
        };
        let run = native.overlay(&spans).resolve().unwrap();
        assert_eq!(run.model.as_deref(), Some("gpt-4o"));
        assert_eq!(
            run.models,
            vec!["gpt-4o".to_string(), "gpt-4o-mini".to_string()]
        );
        assert_eq!(run.cost_nanos, 5);
        assert_eq!(run.input_tokens, 7);
        assert_eq!(run.latency_us, [Some(1), Some(2), None, None]);
        assert_eq!(run.duration_us, Some(200));
        assert_eq!(run.session_source.as_deref(), Some("session.id"));
        assert_eq!(run.agent_name, "default");
    }

    #[test]
    fn duration_gives_the_end_and_no_start_gives_nothing() {
        let f = RunFields {
            started_at: Some(10),
            duration_us: Some(5),
            ..Default::default()
        };
        let run = f.resolve().unwrap();
        assert_eq!(run.completed_at, Some(15));
        assert_eq!(run.activity_at(), 15);
        assert!(RunFields::default().resolve().is_none());
    }
}
