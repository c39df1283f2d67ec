//! Static files, embedded in the binary and served under a versioned path with a long
//! cache lifetime (`/static/<hash>/app.css`): no CDN, nothing to deploy beside the binary.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/app.js"),
    },
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for a in ASSETS {
        h.update(a.body);
    }
    crate::domain::tokens::hex(&h.finalize()[..6])
});

/// The current asset version (a hash of the files).
pub fn version() -> &'static str {
    VERSION.as_str()
}

/// `GET /static/{version}/{name}`.
pub async fn serve(path: web::Path<(String, String)>) -> HttpResponse {
    let (v, name) = path.into_inner();
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => {
            let cache = if v == version() {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            HttpResponse::Ok()
                .content_type(a.content_type)
                .insert_header((header::CACHE_CONTROL, cache))
                .body(a.body)
        }
        None => HttpResponse::NotFound().finish(),
    }
}
