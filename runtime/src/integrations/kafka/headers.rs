//! The trace context in a record's headers.

use rdkafka::message::{Header, Headers, OwnedHeaders};

/// The record's headers with `cx` injected: the user's headers first, in
/// their order, except those the propagators write (an earlier
/// `traceparent` is replaced, not doubled).
pub(super) fn inject(cx: &opentelemetry::Context, headers: Option<OwnedHeaders>) -> OwnedHeaders {
    let mut injected: Vec<(String, String)> = Vec::with_capacity(2);
    crate::propagation::inject_context(cx, &mut injected);
    let user = headers.as_ref();
    let count = user.map_or(0, Headers::count);
    let mut out = OwnedHeaders::new_with_capacity(count + injected.len());
    if let Some(user) = user {
        for h in user.iter() {
            if !injected.iter().any(|(k, _)| k.eq_ignore_ascii_case(h.key)) {
                out = out.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
    }
    for (key, value) in &injected {
        out = out.insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    }
    out
}

/// A message's headers as a carrier to extract a context from.
struct Carrier<'a, H: Headers>(Option<&'a H>);

impl<H: Headers> crate::propagation::HeaderCarrier for Carrier<'_, H> {
    fn get_header(&self, key: &str) -> Option<&str> {
        let headers = self.0?;
        (0..headers.count())
            .rev()
            .filter_map(|i| headers.try_get(i))
            .find(|h| h.key.eq_ignore_ascii_case(key))
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    fn set_header(&mut self, _key: &str, _value: String) {}

    fn header_keys(&self) -> Vec<&str> {
        self.0.map_or_else(Vec::new, |h| {
            (0..h.count())
                .filter_map(|i| h.try_get(i))
                .map(|h| h.key)
                .collect()
        })
    }
}

/// The context a message carries in its headers (empty when none).
pub(super) fn extract<M: rdkafka::Message>(message: &M) -> opentelemetry::Context {
    crate::propagation::extract(&Carrier(message.headers()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injection_keeps_the_users_headers_and_replaces_an_old_traceparent() {
        let user = OwnedHeaders::new()
            .insert(Header {
                key: "tenant",
                value: Some("acme"),
            })
            .insert(Header {
                key: "traceparent",
                value: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            });
        // A context without a span injects nothing: the headers stay.
        let out = inject(&opentelemetry::Context::new(), Some(user));
        let keys: Vec<&str> = out.iter().map(|h| h.key).collect();
        assert_eq!(keys, ["tenant", "traceparent"]);
    }
}
