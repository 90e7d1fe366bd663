//! OTLP/HTTP JSON bodies: the normalisation pass and serde decoding, then the same mapping as
//! protobuf bodies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threadline::ingest::otlp::decode::Encoding;

mod common;

fuzz_target!(|data: &[u8]| common::otlp(data, Encoding::Json));
