//! Everything that turns client data into stored runs, spans and sessions: decoding and
//! validating the two wire formats, combining sources into runs, and the write path.

pub mod native;
pub mod otlp;
pub mod run;

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
