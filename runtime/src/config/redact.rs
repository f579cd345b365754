//! Keeps secrets out of everything semtel prints: header values and the
//! user information of a URL (`https://user:password@host`) appear in no
//! `Debug`, `Display`, error or report. Headers are named, never shown.

use std::borrow::Cow;
use std::fmt;

use crate::telemetry::REDACTED;

/// Header names, each with [`REDACTED`] for its value.
pub(crate) struct Headers<'a>(pub(crate) &'a [(String, String)]);

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, Hidden)))
            .finish()
    }
}

/// A value left out.
struct Hidden;

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A URL as it may be shown: its user information replaced.
pub(crate) struct Url<'a>(pub(crate) &'a str);

impl fmt::Debug for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&url(self.0), f)
    }
}

/// `url` with its user information, if any, replaced by [`REDACTED`].
pub(crate) fn url(url: &str) -> Cow<'_, str> {
    match userinfo(url) {
        Some((start, end)) => Cow::Owned(format!("{}{REDACTED}{}", &url[..start], &url[end..])),
        None => Cow::Borrowed(url),
    }
}

/// Where the user information of `url` is (`user:password`, before the
/// last `@` of the authority), by byte range.
pub(crate) fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority = &url[start..];
    let len = authority.find(['/', '?', '#']).unwrap_or(authority.len());
    let at = authority[..len].rfind('@')?;
    Some((start, start + at))
}

/// A `key=value,…` list (a headers variable) as an error shows it: the
/// keys that are header names, and [`REDACTED`] for every value and for
/// anything else (an item with no `=` may be a pasted credential).
pub(crate) fn pairs(list: &str) -> String {
    list.split(',')
        .map(|item| match item.split_once('=') {
            Some((key, _)) if header_name(key.trim()) => format!("{}={REDACTED}", key.trim()),
            _ => REDACTED.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `key` is a valid HTTP header name (and so no secret to hide).
pub(crate) fn header_name(key: &str) -> bool {
    !key.is_empty() && http::HeaderName::from_bytes(key.to_ascii_lowercase().as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_user_information_only() {
        assert_eq!(
            url("https://user:s3cret@collector:4318/v1/traces"),
            "https://[redacted]@collector:4318/v1/traces"
        );
        assert_eq!(url("collector:4317"), "collector:4317");
        assert_eq!(url("tok@collector:4317"), "[redacted]@collector:4317");
        // An `@` after the authority is not user information.
        assert_eq!(url("http://c:4318/a@b"), "http://c:4318/a@b");
        assert_eq!(url("http://c:4318/?x=a@b"), "http://c:4318/?x=a@b");
    }

    #[test]
    fn header_lists_keep_their_names_only() {
        assert_eq!(
            pairs("Authorization=Basic%20abc, x-tenant=blue"),
            "Authorization=[redacted],x-tenant=[redacted]"
        );
        assert_eq!(pairs("Bearer abc"), "[redacted]");
        assert_eq!(pairs("Authorization: Bearer a=b"), "[redacted]");
        let headers = [("authorization".to_owned(), "Basic abc".to_owned())];
        assert_eq!(
            format!("{:?}", Headers(&headers)),
            "{\"authorization\": [redacted]}"
        );
    }
}
