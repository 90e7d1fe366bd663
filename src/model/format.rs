//! Number and time formatting for people: `1.2 s`, `$0.0234`, `4,520`. Pure, shared by SSR and
//! the browser so both render the same text (a mismatch would break hydration).

/// `4520` → `4,520`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Seconds → `850 ms`, `1.2 s`, `4m 05s`, `2h 14m`.
pub fn duration_secs(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "—".into();
    }
    if secs < 1.0 {
        return format!("{} ms", (secs * 1000.0).round() as i64);
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let total = secs.round() as i64;
    if total < 3600 {
        return format!("{}m {:02}s", total / 60, total % 60);
    }
    format!("{}h {:02}m", total / 3600, (total % 3600) / 60)
}

/// Milliseconds → `12 ms`, `0.4 ms`, `1.2 s`.
pub fn duration_ms(ms: f64) -> String {
    if ms < 1.0 && ms > 0.0 {
        return format!("{ms:.1} ms");
    }
    duration_secs(ms / 1000.0)
}

/// USD with enough digits to tell small costs apart: `$0.0234`, `$12.40`, `$0`.
pub fn usd(cost: f64) -> String {
    if cost == 0.0 {
        return "$0".into();
    }
    if cost >= 100.0 {
        return format!("${}", thousands(cost.round() as i64));
    }
    if cost >= 1.0 {
        return format!("${cost:.2}");
    }
    if cost >= 0.0001 {
        return format!("${cost:.4}");
    }
    format!("${cost:.6}")
}

/// Token counts compactly: `980`, `4,520`, `1.2M`.
pub fn tokens(n: i64) -> String {
    if n.abs() >= 10_000_000 {
        return format!("{:.1}M", n as f64 / 1e6);
    }
    thousands(n)
}

/// A ratio as a percentage: `12.5%`.
pub fn percent(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "—".into();
    }
    let pct = ratio * 100.0;
    if pct < 10.0 {
        format!("{pct:.1}%")
    } else {
        format!("{pct:.0}%")
    }
}

/// An RFC 3339 UTC time as `2026-02-07 10:05:32 UTC` for tooltips and the server render; the
/// browser replaces it with the viewer's local time after hydration.
pub fn utc_label(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4520), "4,520");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-4520), "-4,520");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_secs(0.85), "850 ms");
        assert_eq!(duration_secs(1.23), "1.2 s");
        assert_eq!(duration_secs(245.0), "4m 05s");
        assert_eq!(duration_secs(8040.0), "2h 14m");
        assert_eq!(duration_ms(0.4), "0.4 ms");
        assert_eq!(duration_ms(1200.0), "1.2 s");
    }

    #[test]
    fn costs_keep_small_digits() {
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(0.0234), "$0.0234");
        assert_eq!(usd(12.4), "$12.40");
        assert_eq!(usd(0.0000123), "$0.000012");
        assert_eq!(usd(1234.0), "$1,234");
    }

    #[test]
    fn percent_and_labels() {
        assert_eq!(percent(0.125), "12%");
        assert_eq!(percent(0.0412), "4.1%");
        assert_eq!(utc_label("2026-02-07T10:05:32Z"), "2026-02-07 10:05:32 UTC");
    }
}
