//! Native `POST /api/v1/runs` bodies: JSON decoding and validation of every field. The first
//! byte picks an `X-Session-Id` header to combine with the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadline::ingest::bounds::{
    MAX_COST_USD, MAX_COUNT, MAX_DURATION_MS, MAX_LONG_NAME_CHARS, MAX_NAME_CHARS,
};
use threadline::ingest::native::{parse_batch_with, BatchError};
use threadline::ingest::{json_size, ValueLimits};

fn chars_within(text: &Option<String>, max: usize) -> bool {
    text.as_ref().is_none_or(|s| s.chars().count() <= max)
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let header = match choice % 4 {
        0 => None,
        1 => Some("conv-1"),
        2 => Some(""),
        _ => Some("a\u{7f}b"),
    };
    let limits = ValueLimits {
        max_value_bytes: 512,
        max_session_id_chars: 32,
    };
    match parse_batch_with(body, header, 50, &limits) {
        Ok(runs) => {
            assert!(!runs.is_empty() && runs.len() <= 50);
            for run in runs {
                let f = &run.fields;
                assert!(f.started_at.is_some());
                // Text within the value limit (NUL scrubbing to U+FFFD may add 2 bytes each).
                for text in [&f.input, &f.output, &f.error] {
                    assert!(text
                        .as_ref()
                        .is_none_or(|s| { s.len() <= 512 + 2 * s.matches('\u{fffd}').count() }));
                }
                for (key, value) in f.attributes.iter().flatten() {
                    assert!(key.len() + json_size(value) <= 512);
                }
                if let Some(s) = &f.session_id {
                    assert!(!s.is_empty() && s.chars().count() <= 32);
                }
                // Names and numbers within the fixed bounds.
                assert!(chars_within(&run.id, MAX_NAME_CHARS));
                assert!(chars_within(&f.agent_name, MAX_NAME_CHARS));
                assert!(chars_within(&f.workflow_name, MAX_NAME_CHARS));
                assert!(chars_within(&f.user_id, MAX_LONG_NAME_CHARS));
                assert!(chars_within(&f.model, MAX_LONG_NAME_CHARS));
                for tool in [&f.tools_called, &f.tools_forwarded]
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    assert!(!tool.is_empty() && tool.chars().count() <= MAX_LONG_NAME_CHARS);
                }
                for n in [
                    f.input_tokens,
                    f.output_tokens,
                    f.tokens_saved,
                    f.tools_sent,
                ] {
                    assert!(n.is_none_or(|n| (0..=MAX_COUNT).contains(&n)));
                }
                let max_us = MAX_DURATION_MS as i64 * 1000;
                assert!(f
                    .cost_nanos
                    .is_none_or(|c| (0..=(MAX_COST_USD * 1e9) as i64).contains(&c)));
                for d in f.latency_us.iter().chain([&f.duration_us]) {
                    assert!(d.is_none_or(|d| (0..=max_us).contains(&d)));
                }
                // A validated run always resolves into a storable one.
                let _ = f.resolve();
            }
        }
        Err(BatchError::Invalid(errors)) => assert!(!errors.is_empty()),
        Err(_) => {}
    }
});
