//! Native `POST /api/v1/runs` bodies: JSON decoding and validation of every field. The first
//! byte picks an `X-Session-Id` header to combine with the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadline::ingest::native::{parse_batch_with, BatchError};
use threadline::ingest::ValueLimits;

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
                assert!(f.input.as_ref().is_none_or(|s| s.len() <= 512));
                if let Some(s) = &f.session_id {
                    assert!(!s.is_empty() && s.chars().count() <= 32);
                }
                // A validated run always resolves into a storable one.
                let _ = f.resolve();
            }
        }
        Err(BatchError::Invalid(errors)) => assert!(!errors.is_empty()),
        Err(_) => {}
    }
});
