//! Buffers, gzip, and reading collectors' answers.

use super::*;
use crate::otlp::answer::wire;

#[test]
fn retry_after_takes_seconds_and_http_dates() {
    assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
    assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
    let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    let d = retry_after(&later).unwrap();
    assert!(
        d > Duration::from_secs(28) && d <= Duration::from_secs(30),
        "{d:?}"
    );
    // A date in the past: no wait.
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(Duration::ZERO)
    );
    assert_eq!(retry_after("soon"), None);
}

#[test]
fn partial_success_is_read_from_protobuf_and_json_answers() {
    let answer = wire::Response {
        partial_success: Some(wire::PartialSuccess {
            rejected: 4,
            error_message: "bad".into(),
        }),
    };
    let expected = Accepted {
        rejected: 4,
        message: Some("bad".into()),
    };
    assert_eq!(partial_success(&answer.encode_to_vec(), false), expected);
    let json = br#"{"partialSuccess":{"rejectedSpans":"4","errorMessage":"bad"}}"#;
    assert_eq!(partial_success(json, true), expected);
    // Metrics name the count otherwise.
    let json = br#"{"partialSuccess":{"rejectedDataPoints":4,"errorMessage":"bad"}}"#;
    assert_eq!(partial_success(json, true), expected);
    assert_eq!(partial_success(b"{}", true), Accepted::default());
    assert_eq!(partial_success(b"", false), Accepted::default());
}

#[test]
fn retry_info_is_found_among_the_status_details() {
    let info = wire::RetryInfo {
        retry_delay: Some(wire::Duration {
            seconds: 2,
            nanos: 500_000_000,
        }),
    };
    let status = wire::RpcStatus {
        code: 8,
        message: String::new(),
        details: vec![wire::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    };
    assert_eq!(
        retry_info(&status.encode_to_vec()),
        Some(Duration::from_millis(2500))
    );
    assert_eq!(retry_info(b""), None);
}

#[test]
fn request_buffers_are_reused_up_to_the_pool_size() {
    let pool = BufferPool::new(1);
    let mut a = pool.take();
    a.buf.extend_from_slice(&[7; 1000]);
    let body = prepare(None, a).unwrap();
    assert_eq!(body.len(), 1000);
    // Still in use by the request body: a new buffer is handed out.
    let b = pool.take();
    assert_eq!(b.buf.capacity(), 0);
    drop(body);
    // Back in the pool, emptied, its capacity kept.
    let c = pool.take();
    assert!(c.buf.is_empty() && c.buf.capacity() >= 1000);
    // One kept at most: the second returned is freed.
    drop(c);
    drop(b);
    assert_eq!(pool.free.lock().unwrap().len(), 1);
}

/// gzip as a receiver reads it (the trailer's CRC and length checked),
/// for inputs that compress well, not at all (random bytes need more
/// room than first reserved), and not at all in size; a kept deflate
/// state gives the same output again.
#[test]
fn gzip_bodies_decode_and_reused_state_starts_afresh() {
    use std::io::Read as _;

    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let random: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let repeated = b"pipeline.stage.name".repeat(5_000);
    let gzip = Gzip::default();
    for input in [&random[..], &repeated[..], &[][..], &random[..10]] {
        let mut first = Vec::new();
        gzip.compress(input, &mut first).unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&first[..])
            .read_to_end(&mut decoded)
            .unwrap();
        assert_eq!(decoded, input);
        let mut again = vec![1, 2, 3];
        gzip.compress(input, &mut again).unwrap();
        assert_eq!(again, first);
    }
    assert!(gzip.free.lock().unwrap().len() <= GZIP_KEEP);
}

#[test]
fn a_compressed_request_returns_its_buffer_at_once() {
    let pool = BufferPool::new(2);
    let mut a = pool.take();
    a.buf.extend_from_slice(&[1; 4096]);
    let body = prepare(Gzip::when(Compression::Gzip).as_deref(), a).unwrap();
    assert!(body.len() < 4096, "gzip of repeated bytes is smaller");
    assert_eq!(pool.free.lock().unwrap().len(), 1);
}
