//! What section 3 "Security" of the contract asks of the HTTP layer, in one place:
//! secrets checked at start-up, the admin token on admin routes, and the same-origin rule
//! for state-changing requests.
//!
//! # Layout
//!
//! - [`Secret`]: a configured secret or token; never empty, never printed.
//! - [`Security`]: the admin token and webhook secret the routes consult
//!   ([`Security::require_admin`], [`Security::require_simulator`]).
//! - [`Origins`] and [`same_origin`]: the middleware that refuses a state-changing request
//!   whose `Origin` names another site (a web page elsewhere driving a visitor's browser).

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::{ApiError, AppState};

/// Secrets shorter than this are accepted with a warning: guessable, but maybe a test.
pub const MIN_SECRET_CHARS: usize = 16;

/// A secret or token from the configuration. `Debug` and `Display` show `[redacted]`, so
/// that it cannot reach a log by accident.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Validate a configured value: set but empty is an error that stops the server (an
    /// empty token compares equal to an empty header; an empty HMAC key is known to all);
    /// a short one is accepted with a warning.
    ///
    /// # Errors
    /// The message to print, naming the variable `env` (e.g. `ORDERFLOW_ADMIN_TOKEN`).
    pub fn from_config(env: &str, value: Option<String>) -> Result<Option<Self>, String> {
        let Some(value) = value else {
            return Ok(None);
        };
        if value.trim().is_empty() {
            return Err(format!(
                "{env} is set but empty: set a long random value, or unset it"
            ));
        }
        if value.chars().count() < MIN_SECRET_CHARS {
            tracing::warn!(
                "{env} is shorter than {MIN_SECRET_CHARS} characters: it can be guessed; use a long random value"
            );
        }
        Ok(Some(Self(Arc::from(value))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The configured credentials the routes consult.
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// When set, admin routes need `Authorization: Bearer <token>`.
    pub admin_token: Option<Secret>,
    /// When set, the payment webhook needs a valid `Payment-Signature`.
    pub webhook_secret: Option<Secret>,
    /// Origins trusted for state-changing requests besides the server's own.
    pub origins: Arc<Origins>,
}

impl Security {
    /// When an admin token is configured, require `Authorization: Bearer <token>`,
    /// compared in constant time so the answer's timing does not leak the token.
    ///
    /// # Errors
    /// `401 unauthorized`.
    pub fn require_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.admin_token else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }

    /// The simulated gateway signs real webhooks with the webhook secret, so when one is
    /// set, asking it to pay is an admin action, and impossible without an admin token.
    ///
    /// # Errors
    /// `403 forbidden` with a secret and no admin token; `401 unauthorized` without the
    /// token.
    pub fn require_simulator(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.webhook_secret.is_some() && self.admin_token.is_none() {
            return Err(ApiError::forbidden(
                "the simulated gateway signs real webhooks: with a webhook secret it needs an admin token, and none is configured",
            ));
        }
        self.require_admin(headers)
    }
}

/// The origins a state-changing request may come from besides the one it was addressed to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Origins {
    trusted: Vec<String>,
}

impl Origins {
    /// The origin of `public_url` (when set) and each of `allowed`.
    ///
    /// # Errors
    /// A message naming the value that is not an origin (`scheme://host[:port]`).
    pub fn new(public_url: Option<&str>, allowed: &[String]) -> Result<Self, String> {
        let mut trusted = Vec::new();
        for raw in public_url
            .into_iter()
            .chain(allowed.iter().map(String::as_str))
        {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            trusted
                .push(origin_of(raw).ok_or_else(|| {
                    format!("{raw:?} is not an origin like https://shop.example")
                })?);
        }
        Ok(Self { trusted })
    }

    /// Whether a request carrying `Origin: origin`, addressed to `host` over `scheme`,
    /// comes from the server's own site or a trusted one.
    fn allows(&self, origin: &str, host: Option<&str>, scheme: &str) -> bool {
        let Some(origin) = origin_of(origin) else {
            // `null` (sandboxed frames, file: pages) and anything unparsable.
            return false;
        };
        let own = host.and_then(|h| origin_of(&format!("{scheme}://{h}")));
        own.as_deref() == Some(origin.as_str()) || self.trusted.contains(&origin)
    }
}

/// `scheme://host[:port]`, lower-case, the default port left out, as browsers send it in
/// `Origin`; `None` when `s` has no scheme and host.
fn origin_of(s: &str) -> Option<String> {
    let uri: Uri = s.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    Some(match uri.port_u16() {
        Some(p) if Some(p) != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Middleware: a request that can change state (any method but GET, HEAD and OPTIONS) and
/// carries an `Origin` of another site is refused with `403 forbidden`. Requests without
/// `Origin` (curl, payment gateways, other servers) are not browser requests and pass.
pub(crate) async fn same_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Some(origin) = req.headers().get(header::ORIGIN) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        // Behind a TLS-terminating proxy the browser's origin is https; a page elsewhere
        // cannot set this header without a preflight this server never grants.
        let scheme = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|p| p.to_str().ok())
            .filter(|p| matches!(*p, "http" | "https"))
            .unwrap_or("http");
        let allowed = origin
            .to_str()
            .is_ok_and(|o| state.security.origins.allows(o, host, scheme));
        if !allowed {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "cross-origin request refused: the Origin is neither this server nor one of --allowed-origins",
            )
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_secrets_are_refused_and_short_ones_accepted() {
        assert!(Secret::from_config("X", Some(String::new())).is_err());
        assert!(Secret::from_config("X", Some("   ".into())).is_err());
        assert!(Secret::from_config("X", None).unwrap().is_none());
        let short = Secret::from_config("X", Some("short".into())).unwrap();
        assert_eq!(short.unwrap().expose(), "short");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::from_config("X", Some("s3cr3t-s3cr3t-s3cr3t".into()))
            .unwrap()
            .unwrap();
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert!(!format!("{:?}", Some(s)).contains("s3cr3t"));
    }

    #[test]
    fn origins_are_normalised_like_browsers_send_them() {
        assert_eq!(
            origin_of("HTTP://Shop.Example:80/path").unwrap(),
            "http://shop.example"
        );
        assert_eq!(
            origin_of("https://shop.example:443").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("shop.example"), None);
    }

    #[test]
    fn only_the_own_origin_and_trusted_ones_are_allowed() {
        let o = Origins::new(
            Some("https://shop.example/"),
            &["https://admin.shop.example".into()],
        )
        .unwrap();
        let host = Some("127.0.0.1:3000");
        assert!(o.allows("http://127.0.0.1:3000", host, "http"));
        assert!(o.allows("https://shop.example", host, "http"));
        assert!(o.allows("https://admin.shop.example", host, "http"));
        assert!(!o.allows("https://evil.example", host, "http"));
        assert!(!o.allows("http://127.0.0.1:3001", host, "http"));
        assert!(!o.allows("https://127.0.0.1:3000", host, "http"));
        assert!(o.allows("https://127.0.0.1:3000", host, "https"));
        assert!(!o.allows("null", host, "http"));
        assert!(Origins::new(None, &["not an origin".into()]).is_err());
    }
}
