//! Shared by the OTLP targets.

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
    let answer = response(flat.rejected, flat.message());
    let _ = encode_response(&answer, encoding);
}
