//! Every packet here stays on 127.0.0.0/8: other ranges are covered by pure functions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn allow(list: &str) -> OutboundAllow {
    OutboundAllow::parse(list).expect("allow list")
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn resolved_addresses_keep_only_what_the_guard_admits() {
    let found = [
        sa("127.0.0.1:0"),
        sa("10.0.0.1:0"),
        sa("169.254.169.254:0"),
        sa("[::ffff:127.0.0.1]:0"),
        sa("8.8.8.8:0"),
    ];
    assert_eq!(
        admit_addrs("api.example", found, &allow(""), Admit::PublicOrAllowed),
        vec![sa("8.8.8.8:0")]
    );
    assert_eq!(
        admit_addrs(
            "api.example",
            found,
            &allow("10.0.0.0/8"),
            Admit::PublicOrAllowed
        ),
        vec![sa("10.0.0.1:0"), sa("8.8.8.8:0")]
    );
    assert_eq!(
        admit_addrs(
            "api.example",
            found,
            &allow("10.0.0.0/8"),
            Admit::AllowedOnly
        ),
        vec![sa("10.0.0.1:0")],
        "plain http never reaches a public address the operator did not name"
    );
    assert_eq!(
        admit_addrs(
            "api.example",
            found,
            &allow("api.example"),
            Admit::AllowedOnly
        )
        .len(),
        found.len(),
        "a listed name is exempt"
    );
    assert!(admit_addrs("api.example", found, &allow(""), Admit::AllowedOnly).is_empty());
}

async fn lookup(list: &str, admit: Admit) -> Result<Vec<SocketAddr>, HostRefusal> {
    PinnedResolver::new(Arc::new(allow(list)), admit)
        .lookup("localhost")
        .await
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_unless_its_address_is_allowed() {
    assert_eq!(
        lookup("", Admit::PublicOrAllowed).await,
        Err(HostRefusal::NotPublic)
    );
    assert_eq!(
        lookup("127.0.0.2/32", Admit::PublicOrAllowed).await,
        Err(HostRefusal::NotPublic),
        "127.0.0.2 allowed does not admit a name resolving to 127.0.0.1"
    );
    assert_eq!(
        lookup("10.0.0.0/8", Admit::AllowedOnly).await,
        Err(HostRefusal::NotPublic)
    );
    let kept = lookup("127.0.0.1/32", Admit::PublicOrAllowed)
        .await
        .expect("admitted");
    assert!(!kept.is_empty());
    assert!(
        kept.iter().all(|a| a.ip() == sa("127.0.0.1:0").ip()),
        "{kept:?}"
    );
    assert!(lookup("localhost", Admit::AllowedOnly).await.is_ok());
}

/// A one-route HTTP server on 127.0.0.1 that counts connections and answers `reply`.
async fn loopback_server(reply: &'static str) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    (port, hits)
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

async fn get(client: &OutboundClient, url: &str) -> Result<reqwest::Response, OutboundError> {
    let req = client.client().get(url).build().expect("request");
    client.execute(req).await
}

#[tokio::test]
async fn the_client_connects_only_to_admitted_loopback_addresses() {
    let (port, hits) = loopback_server(OK).await;

    let open = OutboundClient::new(allow("127.0.0.1/32")).expect("client");
    let res = get(&open, &format!("http://localhost:{port}/v1/models"))
        .await
        .expect("allowed");
    assert_eq!(res.status(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let narrow = OutboundClient::new(allow("127.0.0.2/32")).expect("client");
    for (url, why) in [
        (format!("http://localhost:{port}/"), HostRefusal::NotPublic),
        (format!("https://localhost:{port}/"), HostRefusal::NotPublic),
        (format!("http://127.0.0.1:{port}/"), HostRefusal::NeedsHttps),
        (format!("https://127.0.0.1:{port}/"), HostRefusal::NotPublic),
        (
            format!("https://2130706433:{port}/"),
            HostRefusal::NotPublic,
        ),
        (
            format!("https://[::ffff:127.0.0.1]:{port}/"),
            HostRefusal::NotPublic,
        ),
    ] {
        match get(&narrow, &url).await {
            Err(OutboundError::Refused(got)) => assert_eq!(got, why, "{url}"),
            other => panic!("{url} must be refused, got {other:?}"),
        }
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no refused call connected");
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (target_port, target_hits) = loopback_server(OK).await;
    let redirect: &'static str = Box::leak(
        format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target_port}/\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let (port, _) = loopback_server(redirect).await;
    let client = OutboundClient::new(allow("127.0.0.1/32")).expect("client");
    let res = get(&client, &format!("http://127.0.0.1:{port}/"))
        .await
        .expect("answered");
    assert_eq!(res.status(), 302);
    assert_eq!(target_hits.load(Ordering::SeqCst), 0);
}

#[test]
fn guarded_client_builds() {
    assert!(guarded_client(&allow("127.0.0.1/32")).is_ok());
}
