//! OTLP/HTTP trace bodies in and out: protobuf via prost, JSON via opentelemetry-proto's serde
//! support after a normalisation pass.
//!
//! opentelemetry-proto's serde derives follow the OTLP JSON mapping only partly: they read hex
//! ids, camelCase keys and 64-bit timestamps as strings or numbers, but they reject several
//! things real exporters send and the proto3 JSON mapping allows (enum names such as
//! `"SPAN_KIND_SERVER"`, `null` for absent fields, `{"arrayValue": {}}` with the empty
//! `values` omitted, attributes whose empty `key` was omitted, original snake_case field names,
//! upper-case hex, timestamps written as JSON floats). [`normalise`] rewrites those into the
//! shape the derives accept, so one odd attribute does not cost the client its whole batch.
//! Malformed ids are blanked rather than failing the body: the mapping then rejects just that
//! span through `partial_success`, as OTLP asks.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use prost::Message;
use serde_json::{Map, Value};

/// The two OTLP/HTTP body encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names, parameters (`; charset=utf-8`) ignored. `None` is a
    /// 415 for the caller.
    pub fn from_content_type(ct: &str) -> Option<Encoding> {
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Some(Encoding::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// The `Content-Type` of a response in this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Decodes an (already decompressed) request body. The error is meant for a 400 response.
pub fn decode_request(body: &[u8], enc: Encoding) -> Result<ExportTraceServiceRequest, String> {
    match enc {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)
            .map_err(|e| format!("invalid OTLP protobuf body: {e}")),
        Encoding::Json => {
            let mut value: Value =
                serde_json::from_slice(body).map_err(|e| format!("invalid OTLP JSON body: {e}"))?;
            if !value.is_object() {
                return Err("invalid OTLP JSON body: expected a JSON object".into());
            }
            normalise(&mut value);
            serde_json::from_value(value).map_err(|e| format!("invalid OTLP JSON body: {e}"))
        }
    }
}

/// Encodes a response in the request's encoding.
pub fn encode_response(resp: &ExportTraceServiceResponse, enc: Encoding) -> Vec<u8> {
    match enc {
        Encoding::Protobuf => resp.encode_to_vec(),
        Encoding::Json => {
            // Written by hand rather than through the serde derive, which would emit
            // `{"partialSuccess":null}` for a full success. `rejectedSpans` stays a JSON number
            // (not the canonical int64 string): every proto3 JSON parser accepts numbers, while
            // opentelemetry-proto's own derive (used by the Rust exporter to read this answer)
            // accepts only numbers.
            let mut out = Map::new();
            if let Some(ps) = &resp.partial_success {
                let mut inner = Map::new();
                if ps.rejected_spans != 0 {
                    inner.insert("rejectedSpans".into(), ps.rejected_spans.into());
                }
                if !ps.error_message.is_empty() {
                    inner.insert("errorMessage".into(), ps.error_message.clone().into());
                }
                out.insert("partialSuccess".into(), Value::Object(inner));
            }
            serde_json::to_vec(&Value::Object(out)).unwrap_or_else(|_| b"{}".to_vec())
        }
    }
}

/// The answer to an export: `partial_success` only when something was rejected or there is
/// something to say, since OTLP reads its presence as a warning.
pub fn response(rejected_spans: i64, message: String) -> ExportTraceServiceResponse {
    let partial_success =
        (rejected_spans > 0 || !message.is_empty()).then(|| ExportTracePartialSuccess {
            rejected_spans: rejected_spans.max(0),
            error_message: message,
        });
    ExportTraceServiceResponse { partial_success }
}

/// Rewrites an OTLP JSON document in place into what opentelemetry-proto's serde accepts.
///
/// Every object key in an OTLP document is a protobuf field name (attribute names live in
/// `"key"` values, never in object keys), so fixing fields by key name anywhere in the tree is
/// safe.
fn normalise(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalise),
        Value::Object(map) => {
            normalise_object(map);
            map.values_mut().for_each(normalise);
        }
        _ => {}
    }
}

fn normalise_object(map: &mut Map<String, Value>) {
    // proto3 JSON readers accept the original field names as well as lowerCamelCase.
    let snake: Vec<String> = map.keys().filter(|k| k.contains('_')).cloned().collect();
    for key in snake {
        let camel = snake_to_camel(&key);
        if !map.contains_key(&camel) {
            if let Some(v) = map.remove(&key) {
                map.insert(camel, v);
            }
        }
    }
    // `null` means "default" in proto3 JSON; the derives only accept that for `Option` fields.
    map.retain(|_, v| !v.is_null());

    for (key, v) in map.iter_mut() {
        match key.as_str() {
            "traceId" | "spanId" | "parentSpanId" => *v = Value::String(normalise_hex(v)),
            "startTimeUnixNano" | "endTimeUnixNano" | "timeUnixNano" => normalise_u64(v),
            "kind" => normalise_enum(v, |s| {
                SpanKind::from_str_name(s)
                    .or_else(|| SpanKind::from_str_name(&format!("SPAN_KIND_{s}")))
                    .map(|k| k as i32)
            }),
            "code" => normalise_enum(v, |s| {
                StatusCode::from_str_name(s)
                    .or_else(|| StatusCode::from_str_name(&format!("STATUS_CODE_{s}")))
                    .map(|c| c as i32)
            }),
            "droppedAttributesCount" | "droppedEventsCount" | "droppedLinksCount" | "flags" => {
                normalise_u32(v)
            }
            "intValue" => normalise_int_value(v),
            "doubleValue" => normalise_double_value(v),
            "arrayValue" | "kvlistValue" => {
                if let Value::Object(inner) = v {
                    let values = inner
                        .entry("values")
                        .or_insert_with(|| Value::Array(vec![]));
                    if key == "kvlistValue" {
                        fill_missing_keys(values);
                    }
                }
            }
            "attributes" => fill_missing_keys(v),
            _ => {}
        }
    }
    // A null `doubleValue` (NaN, which JSON cannot hold) was just turned into null: drop it.
    map.retain(|_, v| !v.is_null());
}

fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Lower-case hex, or `""` when the value is not hex at all (the span is then rejected with a
/// clear reason instead of failing the whole body).
fn normalise_hex(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let s = s.trim();
            if s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                s.to_ascii_lowercase()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

/// fixed64 timestamps: the derive takes strings and integers; also take floats (JavaScript
/// numbers) and protobuf.js's `{"low", "high"}` longs.
fn normalise_u64(v: &mut Value) {
    let fixed = match v {
        Value::Number(n) if n.as_u64().is_none() => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64),
        Value::String(s) => {
            let t = s.trim();
            match t.parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => t
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64),
            }
        }
        Value::Object(o) => {
            let part = |k: &str| o.get(k).and_then(Value::as_i64).map(|x| x as u32 as u64);
            match (part("low"), part("high")) {
                (Some(low), Some(high)) => Some((high << 32) | low),
                _ => Some(0),
            }
        }
        _ => return,
    };
    if let Some(n) = fixed {
        *v = Value::from(n);
    }
}

fn normalise_u32(v: &mut Value) {
    let n = match v {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.trim().parse::<u64>().unwrap_or(0),
        _ => 0,
    };
    *v = Value::from(u32::try_from(n).unwrap_or(u32::MAX));
}

/// Enums are integers in OTLP JSON, but proto3 JSON writers may use the value names.
fn normalise_enum(v: &mut Value, by_name: impl Fn(&str) -> Option<i32>) {
    let n = match v {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i32>()
                .ok()
                .or_else(|| by_name(&s.to_ascii_uppercase()))
                .unwrap_or(0)
        }
        _ => 0,
    };
    *v = Value::from(n);
}

/// The derive reads `intValue` from integers or decimal strings; also take integral floats.
fn normalise_int_value(v: &mut Value) {
    if let Value::Number(n) = v {
        if n.as_i64().is_none() {
            if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                *v = Value::from(f.round() as i64);
            }
        }
    }
}

/// proto3 JSON writes `"NaN"`, `"Infinity"` and sometimes plain numbers as strings; the derive
/// wants a JSON number. Non-finite values cannot be kept in a JSON attribute map anyway.
fn normalise_double_value(v: &mut Value) {
    if let Value::String(s) = v {
        *v = s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null);
    }
}

/// Writers that omit default values drop an empty attribute key, which the derive requires.
fn fill_missing_keys(v: &mut Value) {
    if let Value::Array(items) = v {
        for item in items {
            if let Value::Object(kv) = item {
                kv.entry("key")
                    .or_insert_with(|| Value::String(String::new()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    #[test]
    fn content_types_ignore_parameters_and_case() {
        assert_eq!(
            Encoding::from_content_type("application/x-protobuf"),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            Encoding::from_content_type("application/json; charset=utf-8"),
            Some(Encoding::Json)
        );
        assert_eq!(
            Encoding::from_content_type(" Application/JSON "),
            Some(Encoding::Json)
        );
        assert_eq!(Encoding::from_content_type("text/plain"), None);
        assert_eq!(Encoding::from_content_type(""), None);
    }

    #[test]
    fn undecodable_bodies_are_errors_not_panics() {
        for body in [&b"\xff\xff\xff\xff"[..], b"\x0a\x05abc", b"\x0a"] {
            let err = decode_request(body, Encoding::Protobuf).unwrap_err();
            assert!(err.contains("protobuf"), "{err}");
        }
        for body in [
            &b""[..],
            b"not json",
            b"[1,2]",
            b"\"x\"",
            b"{\"resourceSpans\": 5}",
            b"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"startTimeUnixNano\": -5}]}]}]}",
            b"{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": [{\"attributes\": [{\"key\": \"a\", \"value\": {\"intValue\": \"x\"}}]}]}]}]}",
        ] {
            let err = decode_request(body, Encoding::Json).unwrap_err();
            assert!(err.starts_with("invalid OTLP JSON body"), "{err}");
        }
    }

    #[test]
    fn empty_bodies_are_empty_requests() {
        assert!(decode_request(b"", Encoding::Protobuf)
            .unwrap()
            .resource_spans
            .is_empty());
        assert!(decode_request(b"{}", Encoding::Json)
            .unwrap()
            .resource_spans
            .is_empty());
    }

    fn first_span(req: &ExportTraceServiceRequest) -> &Span {
        &req.resource_spans[0].scope_spans[0].spans[0]
    }

    #[test]
    fn lenient_json_forms_decode() {
        let body = br#"{"resource_spans": [{"resource": null, "scope_spans": [{"spans": [{
            "trace_id": "5B8EFFF798038103D269B633813FC60C",
            "spanId": "EEE19B7EC3C1B174",
            "parentSpanId": null,
            "name": "x",
            "kind": "SPAN_KIND_CLIENT",
            "startTimeUnixNano": 1.7e18,
            "endTimeUnixNano": {"low": 5, "high": 1},
            "droppedAttributesCount": "2",
            "status": {"code": "STATUS_CODE_ERROR"},
            "attributes": [
                {"value": {"stringValue": "no key"}},
                {"key": "empty", "value": {"arrayValue": {}}},
                {"key": "kv", "value": {"kvlistValue": {"values": [{"value": {"boolValue": true}}]}}},
                {"key": "nan", "value": {"doubleValue": "NaN"}},
                {"key": "d", "value": {"doubleValue": "1.5"}},
                {"key": "i", "value": {"intValue": 7.0}},
                {"key": "n", "value": null}
            ]
        }]}]}]}"#;
        let req = decode_request(body, Encoding::Json).unwrap();
        let span = first_span(&req);
        assert_eq!(
            hex::encode(&span.trace_id),
            "5b8efff798038103d269b633813fc60c"
        );
        assert_eq!(hex::encode(&span.span_id), "eee19b7ec3c1b174");
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.kind, SpanKind::Client as i32);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano, (1u64 << 32) | 5);
        assert_eq!(span.dropped_attributes_count, 2);
        assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
        let attr = |k: &str| span.attributes.iter().find(|a| a.key == k).unwrap().clone();
        assert_eq!(
            attr("").value.unwrap().value,
            Some(any_value::Value::StringValue("no key".into()))
        );
        assert!(matches!(
            attr("empty").value.unwrap().value,
            Some(any_value::Value::ArrayValue(a)) if a.values.is_empty()
        ));
        assert!(attr("nan").value.unwrap().value.is_none());
        assert_eq!(
            attr("d").value.unwrap().value,
            Some(any_value::Value::DoubleValue(1.5))
        );
        assert_eq!(
            attr("i").value.unwrap().value,
            Some(any_value::Value::IntValue(7))
        );
        assert!(attr("n").value.is_none());
    }

    #[test]
    fn malformed_ids_are_blanked_for_the_mapping_to_reject() {
        let body = br#"{"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "not-hex", "spanId": "abc", "parentSpanId": 12, "name": "x"}
        ]}]}]}"#;
        let req = decode_request(body, Encoding::Json).unwrap();
        let span = first_span(&req);
        assert!(
            span.trace_id.is_empty() && span.span_id.is_empty() && span.parent_span_id.is_empty()
        );
    }

    #[test]
    fn protobuf_round_trips() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: "chat".into(),
                        attributes: vec![KeyValue {
                            key: "k".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::IntValue(-3)),
                            }),
                            key_strindex: 0,
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let back = decode_request(&req.encode_to_vec(), Encoding::Protobuf).unwrap();
        assert_eq!(back, req);
    }

    #[test]
    fn responses_carry_partial_success_only_when_needed() {
        assert_eq!(response(0, String::new()).partial_success, None);
        let ok = response(0, String::new());
        assert_eq!(encode_response(&ok, Encoding::Json), b"{}");
        assert!(encode_response(&ok, Encoding::Protobuf).is_empty());

        let partial = response(2, "invalid span id".into());
        let ps = partial.partial_success.clone().unwrap();
        assert_eq!(
            (ps.rejected_spans, ps.error_message.as_str()),
            (2, "invalid span id")
        );
        let json: Value =
            serde_json::from_slice(&encode_response(&partial, Encoding::Json)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"partialSuccess": {"rejectedSpans": 2, "errorMessage": "invalid span id"}})
        );
        // What the Rust exporter does with the answer.
        let parsed: ExportTraceServiceResponse =
            serde_json::from_slice(&encode_response(&partial, Encoding::Json)).unwrap();
        assert_eq!(parsed, partial);
        let proto = encode_response(&partial, Encoding::Protobuf);
        assert_eq!(
            ExportTraceServiceResponse::decode(&proto[..]).unwrap(),
            partial
        );

        let warning = response(0, "note".into());
        assert_eq!(warning.partial_success.unwrap().rejected_spans, 0);
    }
}
