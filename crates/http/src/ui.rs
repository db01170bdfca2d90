//! The web UI: `web/dist` (built by Vite from `web/`, committed) embedded in the binary,
//! so that serving it needs no Node and no files beside the binary.
//!
//! `GET /` is the page; `GET /assets/*` its content-hashed scripts and styles, cached for
//! good. The page's Content-Security-Policy allows nothing from outside this server.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};

use crate::{ApiError, AppState};

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../web/dist");

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
                   script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*file}", get(asset))
}

async fn index() -> Response {
    let Some(page) = DIST.get_file("index.html") else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this build has no web UI",
        )
        .into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
        ],
        page.contents(),
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    let Some(f) = DIST.get_file(format!("assets/{file}")) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such asset").into_response();
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&file)),
            ),
            // Names carry a hash of their content: a new build has new names.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        f.contents(),
    )
        .into_response()
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_build_has_a_page_and_its_assets() {
        let page = DIST
            .get_file("index.html")
            .expect("web/dist/index.html is embedded");
        let html = page.contents_utf8().unwrap();
        let assets: Vec<_> = html
            .split('"')
            .filter_map(|s| s.strip_prefix("/assets/"))
            .collect();
        assert!(!assets.is_empty(), "{html}");
        for a in assets {
            assert!(
                DIST.get_file(format!("assets/{a}")).is_some(),
                "{a} missing"
            );
        }
        // Nothing from outside: no absolute URLs in the page.
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
    }
}
