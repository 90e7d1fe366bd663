//! Everything that turns client data into stored runs, spans and sessions: decoding and
//! validating the two wire formats, combining sources into runs, and the write path.

pub mod native;
pub mod otlp;
pub mod run;

/// Fixed bounds on numbers and names, the same for both wire formats (SPEC §7): the native API
/// refuses a run with a value beyond them (400 naming the field), OTLP rejects the span that
/// carries one (`partial_success`). Numbers beyond them are mistakes or hostile and would
/// overflow a session's sums; names beyond them would not fit the facet indexes.
pub mod bounds {
    /// Largest token count or other count (`input_tokens`, `tokens_saved`, `tools_sent`…).
    pub const MAX_COUNT: i64 = 1_000_000_000_000;
    /// Largest cost, in USD, of one native run or one span.
    pub const MAX_COST_USD: f64 = 1_000_000.0;
    /// Longest duration (a run's, a span's, a gateway phase's), in milliseconds: a year of
    /// 366 days.
    pub const MAX_DURATION_MS: f64 = 366.0 * 86_400_000.0;
    /// Longest client run id, agent or workflow name, in characters.
    pub const MAX_NAME_CHARS: usize = 128;
    /// Longest user id, model or tool name, in characters.
    pub const MAX_LONG_NAME_CHARS: usize = 256;

    /// An error naming the bound when `name` is longer than `max` characters.
    pub fn check_chars(name: &str, max: usize) -> Result<(), String> {
        // Counting stops at the bound: names can be megabytes.
        if name.chars().nth(max).is_some() {
            Err(format!("longer than {max} characters"))
        } else {
            Ok(())
        }
    }
}

/// Limits on single values that both wire formats enforce while decoding (SPEC §7). Values
/// within them are stored whole; pages show cut previews of long text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueLimits {
    /// Largest single value in bytes: a run's `input`, `output` or `error`, one attribute (key
    /// plus value as JSON), a span's name or status message.
    pub max_value_bytes: usize,
    /// Longest explicit session id, in characters.
    pub max_session_id_chars: usize,
}

impl Default for ValueLimits {
    fn default() -> Self {
        ValueLimits {
            max_value_bytes: 1024 * 1024,
            max_session_id_chars: crate::sessionize::MAX_SESSION_ID_LEN,
        }
    }
}

impl ValueLimits {
    pub fn check_session_id(&self, id: &str) -> Result<(), String> {
        crate::sessionize::validate_session_id_max(id, self.max_session_id_chars)
    }

    /// An error naming the limit when `bytes` exceeds it.
    pub fn check_size(&self, bytes: usize) -> Result<(), String> {
        if bytes > self.max_value_bytes {
            Err(format!(
                "is {bytes} bytes; the limit is {} bytes",
                self.max_value_bytes
            ))
        } else {
            Ok(())
        }
    }
}

/// Replaces each NUL character with U+FFFD. PostgreSQL cannot store NUL in text (SQLite can,
/// but both backends must keep the same data), so text that becomes a column is scrubbed after
/// validation; JSON documents (attributes, events) keep theirs, escaped as `\u0000`.
pub fn scrub_nul(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{fffd}");
    }
}

/// The size of `value` written as compact JSON, without writing it anywhere.
pub fn json_size(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing JSON to a counter cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
