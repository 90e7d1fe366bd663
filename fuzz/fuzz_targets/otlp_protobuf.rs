//! OTLP/HTTP protobuf bodies: decoding, flattening into spans (with tight value limits so the
//! limit checks run too), rolling spans up into runs, and the answer's encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadline::ingest::otlp::decode::Encoding;

mod common;

fuzz_target!(|data: &[u8]| common::otlp(data, Encoding::Protobuf));
