//! Shared by the OTLP targets.

use threadline::ingest::bounds::{MAX_LONG_NAME_CHARS, MAX_NAME_CHARS};
use threadline::ingest::otlp::decode::{decode_request, encode_response, response, Encoding};
use threadline::ingest::otlp::mapping::{flatten_with, TraceRollup};
use threadline::ingest::ValueLimits;

pub fn otlp(data: &[u8], encoding: Encoding) {
    let Ok(request) = decode_request(data, encoding) else {
        return;
    };
    let limits = ValueLimits {
        max_value_bytes: 256,
        max_session_id_chars: 16,
    };
    let flat = flatten_with(request, &limits);
    assert_eq!(flat.message(), flat.reasons.join("; "));
    // Rollups merge in any order to the same run (the store relies on it).
    let mut forward = TraceRollup::default();
    let mut backward = TraceRollup::default();
    for span in &flat.spans {
        assert!(span.end_ns >= span.start_ns);
        forward.merge(&TraceRollup::from_span(span));
    }
    for span in flat.spans.iter().rev() {
        backward.merge(&TraceRollup::from_span(span));
    }
    if flat
        .spans
        .iter()
        .all(|s| s.trace_id == flat.spans[0].trace_id)
    {
        assert_eq!(forward.to_fields(), backward.to_fields());
    }
    // Kept spans name users, agents, models and tools within the native API's bounds.
    let f = forward.to_fields();
    let within =
        |text: &Option<String>, max: usize| text.as_ref().is_none_or(|s| s.chars().count() <= max);
    assert!(within(&f.user_id, MAX_LONG_NAME_CHARS));
    assert!(within(&f.agent_name, MAX_NAME_CHARS));
    for name in f
        .models
        .iter()
        .chain(f.tools_called.iter().flatten())
        .chain(f.tools_forwarded.iter().flatten())
    {
        assert!(name.chars().count() <= MAX_LONG_NAME_CHARS);
    }
    let answer = response(flat.rejected, flat.message());
    let _ = encode_response(&answer, encoding);
}
