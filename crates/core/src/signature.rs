//! Webhook signatures: `Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `"<t>.<raw body>"`, accepted within 300 s of now and compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::Timestamp;

/// How far `t` may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing Payment-Signature header")]
    Missing,
    #[error("malformed Payment-Signature header")]
    Malformed,
    #[error("signature timestamp is more than 300 s from now")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `now`.
pub fn sign(secret: &[u8], now: Timestamp, body: &[u8]) -> String {
    let t = now.as_millis().div_euclid(1000);
    let sig = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(sig))
}

/// Check a `Payment-Signature` header against the raw body.
///
/// # Errors
/// Which check failed; all of them answer `401 invalid_signature`.
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (mut t, mut v1) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) if t.is_none() => t = Some(v),
            Some(("v1", v)) if v1.is_none() => v1 = Some(v),
            // Other schemes may be added by a gateway; a repeated field is not trusted.
            Some(("t" | "v1", _)) => return Err(SignatureError::Malformed),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t: i64 = t
        .and_then(|t| t.parse().ok())
        .ok_or(SignatureError::Malformed)?;
    let sig = v1
        .and_then(|v| hex::decode(v).ok())
        .ok_or(SignatureError::Malformed)?;
    let now_secs = now.as_millis().div_euclid(1000);
    // abs_diff cannot overflow, whatever `t` a client sends (i64::MIN included).
    if now_secs.abs_diff(t) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    // verify_slice compares in constant time.
    mac(secret, t, body)
        .verify_slice(&sig)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_795_939_200_500);
    const BODY: &[u8] = br#"{"orderId":"x","paymentStatus":"success"}"#;

    #[test]
    fn a_signature_made_now_verifies() {
        let h = sign(b"whsec", NOW, BODY);
        assert!(h.starts_with("t=1795939200,v1="));
        assert_eq!(verify(b"whsec", Some(&h), BODY, NOW), Ok(()));
    }

    #[test]
    fn a_known_vector_matches() {
        // HMAC-SHA256("whsec", "1795939200.{body}"), computed independently with openssl.
        let h = sign(b"whsec", NOW, b"{}");
        assert_eq!(
            h,
            "t=1795939200,v1=063de5f55b9be2d7d77c6068846e90cfef4770f320d90fa11c6c22d372fab0cb"
        );
    }

    #[test]
    fn wrong_secret_body_or_signature_is_a_mismatch() {
        let h = sign(b"whsec", NOW, BODY);
        assert_eq!(
            verify(b"other", Some(&h), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"whsec", Some(&h), b"{}", NOW),
            Err(SignatureError::Mismatch)
        );
        let flipped = format!("{}0", &h[..h.len() - 1]);
        let flipped = if flipped == h {
            format!("{}1", &h[..h.len() - 1])
        } else {
            flipped
        };
        assert_eq!(
            verify(b"whsec", Some(&flipped), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_more_than_300_s_away_are_stale() {
        for offset in [-301_000, 301_000] {
            let then = Timestamp::from_millis(NOW.as_millis() + offset);
            let h = sign(b"whsec", then, BODY);
            assert_eq!(
                verify(b"whsec", Some(&h), BODY, NOW),
                Err(SignatureError::Stale)
            );
        }
        let edge = Timestamp::from_millis(NOW.as_millis() - 300_000);
        let h = sign(b"whsec", edge, BODY);
        assert_eq!(verify(b"whsec", Some(&h), BODY, NOW), Ok(()));
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            let h = format!("t={t},v1={}", "00".repeat(32));
            assert_eq!(
                verify(b"whsec", Some(&h), BODY, NOW),
                Err(SignatureError::Stale),
                "{t}"
            );
        }
        assert_eq!(
            verify(b"whsec", Some("t=99999999999999999999,v1=00"), BODY, NOW),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        assert_eq!(verify(b"s", None, BODY, NOW), Err(SignatureError::Missing));
        for bad in [
            "",
            "garbage",
            "t=abc,v1=00",
            "t=1795939200",
            "v1=00",
            "t=1795939200,v1=zz",
            "t=1,t=2,v1=00",
        ] {
            assert_eq!(
                verify(b"s", Some(bad), BODY, NOW),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
