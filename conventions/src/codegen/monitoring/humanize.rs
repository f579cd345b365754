//! Prometheus's template functions `humanize`, `humanizePercentage` and
//! `humanizeDuration`, for the annotations that generated unit tests expect.
//! They print with Go's `%.4g`.

/// Go's `%.4g`: four significant digits, trailing zeros dropped, exponent
/// form below 1e-4 and from 1e4.
pub(crate) fn g4(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".to_owned()
        } else if v > 0.0 {
            "+Inf".to_owned()
        } else {
            "-Inf".to_owned()
        };
    }
    let sci = format!("{v:.3e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..4).contains(&exp) {
        let mantissa = trim(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(3 - exp).unwrap_or(0);
    trim(&format!("{v:.decimals$}")).to_owned()
}

fn trim(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `humanize`: SI prefixes (`1.5k`, `250m`).
pub(crate) fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    let mut v = v;
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", g4(v));
    }
    let (v, prefix) = below_one(v);
    format!("{}{prefix}", g4(v))
}

/// A value below 1 scaled up by thousands, with its SI prefix (`0.25` is
/// `250` and `m`).
fn below_one(mut v: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    (v, prefix)
}

/// `humanizePercentage`: `0.5` is `50%`.
pub(crate) fn percentage(v: f64) -> String {
    format!("{}%", g4(v * 100.0))
}

/// `humanizeDuration`: `99` is `1m 39s`, `0.25` is `250ms`.
pub(crate) fn duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return "0s".to_owned();
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let a = v.abs();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // as Go's int64(v)
        let whole = a as u64;
        let (s, m, h, d) = (
            whole % 60,
            whole / 60 % 60,
            whole / 3600 % 24,
            whole / 86_400,
        );
        return if d != 0 {
            format!("{sign}{d}d {h}h {m}m {s}s")
        } else if h != 0 {
            format!("{sign}{h}h {m}m {s}s")
        } else if m != 0 {
            format!("{sign}{m}m {s}s")
        } else {
            format!("{sign}{}s", g4(a))
        };
    }
    let (v, prefix) = below_one(v);
    format!("{}{prefix}s", g4(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_go() {
        assert_eq!(g4(0.5), "0.5");
        assert_eq!(g4(9.9), "9.9");
        assert_eq!(g4(9.899_999_999_999_999), "9.9");
        assert_eq!(g4(1234.5), "1234");
        assert_eq!(g4(12345.0), "1.234e+04");
        assert_eq!(g4(0.000_123_4), "0.0001234");
        assert_eq!(g4(0.000_012_34), "1.234e-05");
        assert_eq!(g4(100.0), "100");
        assert_eq!(humanize(2000.0), "2k");
        assert_eq!(humanize(0.25), "250m");
        assert_eq!(humanize(42.0), "42");
        assert_eq!(percentage(0.5), "50%");
        assert_eq!(percentage(0.999), "99.9%");
        assert_eq!(duration(99.0), "1m 39s");
        assert_eq!(duration(9.9), "9.9s");
        assert_eq!(duration(0.25), "250ms");
        assert_eq!(duration(90_000.0), "1d 1h 0m 0s");
    }
}
