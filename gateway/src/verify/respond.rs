//! Stage 12, respond: the verification's id and JSON body. `unavailable` is an answer too: the
//! venue falls back to the paper certificate.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::CONTENT_TYPE;
use http::{Response, StatusCode};
use http_body_util::Full;
use rand::RngCore as _;
use wire::api::VerifyResponse;

use crate::http::problem::REQUEST_ID_HEADER;

/// A verification id: time-ordered (milliseconds since the epoch, hex) and random, so ids sort
/// by time across nodes and cannot be guessed.
pub fn verification_id(at: DateTime<Utc>) -> String {
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    format!("v-{:012x}{}", at.timestamp_millis(), hex::encode(random))
}

/// The answer's JSON body.
pub fn json(body: &VerifyResponse) -> Bytes {
    Bytes::from(serde_json::to_vec(body).expect("a verify response serializes"))
}

/// The HTTP answer carrying a JSON body.
pub fn http(json: Bytes, request_id: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .header(REQUEST_ID_HEADER, request_id)
        .body(Full::new(json))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_differ() {
        let a = verification_id(DateTime::from_timestamp(1_800_000_000, 0).expect("t"));
        let b = verification_id(DateTime::from_timestamp(1_800_000_001, 0).expect("t"));
        assert!(a < b);
        assert_ne!(
            a,
            verification_id(DateTime::from_timestamp(1_800_000_000, 0).expect("t"))
        );
        assert_eq!(a.len(), 2 + 12 + 20);
    }
}
