//! The sessions list's query string, as the REST endpoint and the page read it: decoding into
//! pairs, strict parameter parsing, the lenient form state, and links built back from a query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadline::model::query::{parse_list_params, parse_query_string, to_query_string, ListForm};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pairs = parse_query_string(&text);
    let now = 1_767_225_600_000_000;
    let _ = ListForm::from_pairs(&pairs);
    if let Ok(query) = parse_list_params(&pairs, now) {
        assert!((1..=100).contains(&query.limit), "limit {}", query.limit);
        assert!(query.offset >= 0);
        // A parsed query written back as a URL parses to the same query.
        let again = parse_query_string(to_query_string(&query.to_pairs()).trim_start_matches('?'));
        assert_eq!(parse_list_params(&again, now).ok(), Some(query));
    }
});
