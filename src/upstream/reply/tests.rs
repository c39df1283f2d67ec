use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{BodyError, Inner, Reply};

const READ: Duration = Duration::from_secs(60);

async fn next_chunk(chunks: &mut super::Chunks) -> Bytes {
    match chunks.next().await {
        Some(Ok(chunk)) => chunk,
        other => panic!("expected a chunk, got {other:?}"),
    }
}

/// A reply whose body yields what the test sends, and waits in between.
fn fed() -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Reply) {
    let (tx, rx) = mpsc::channel(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let reply = Reply {
        status: http::StatusCode::OK,
        headers: http::HeaderMap::new(),
        body: Inner::Reqwest(reqwest::Body::wrap_stream(stream)),
        read_timeout: READ,
    };
    (tx, reply)
}

#[tokio::test(start_paused = true)]
async fn a_body_silent_for_the_read_timeout_is_cut() {
    let (tx, reply) = fed();
    let mut chunks = reply.chunks();
    tx.send(Ok(Bytes::from_static(b"data: 1\n\n")))
        .await
        .expect("the reply is read");
    assert_eq!(next_chunk(&mut chunks).await, "data: 1\n\n");
    let started = tokio::time::Instant::now();
    match chunks.next().await {
        Some(Err(BodyError::Idle(d))) => assert_eq!(d, READ),
        other => panic!("expected the idle cut, got {other:?}"),
    }
    assert_eq!(started.elapsed(), READ);
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn each_wait_gets_the_whole_read_timeout() {
    let (tx, reply) = fed();
    let mut chunks = reply.chunks();
    // The provider sends every 50 s: never the 60 s of silence a cut needs, though the
    // answer as a whole takes far longer.
    let feeder = tokio::spawn(async move {
        for i in 0..4 {
            tokio::time::sleep(Duration::from_secs(50)).await;
            tx.send(Ok(Bytes::from(format!("{i}"))))
                .await
                .expect("the reply is read");
        }
    });
    for i in 0..4 {
        assert_eq!(next_chunk(&mut chunks).await, format!("{i}"));
    }
    assert!(
        chunks.next().await.is_none(),
        "the end after the last chunk"
    );
    feeder.await.expect("the feeder ran");
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_is_not_taken_for_a_silent_provider() {
    let (tx, reply) = fed();
    let mut chunks = reply.chunks();
    tx.send(Ok(Bytes::from_static(b"a")))
        .await
        .expect("the reply is read");
    assert_eq!(next_chunk(&mut chunks).await, "a");
    // A read that waits arms the timer...
    let early = tokio::time::timeout(Duration::from_secs(1), chunks.next()).await;
    assert!(early.is_err(), "nothing to read yet");
    // ...then the client takes two minutes before reading on: what came meanwhile is read,
    // and the next wait starts a fresh minute.
    tx.send(Ok(Bytes::from_static(b"b")))
        .await
        .expect("the reply is read");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(next_chunk(&mut chunks).await, "b");
    let waiting = tokio::time::timeout(Duration::from_secs(59), chunks.next()).await;
    assert!(waiting.is_err(), "59 s of silence is not yet a cut");
    tx.send(Ok(Bytes::from_static(b"c")))
        .await
        .expect("the reply is read");
    assert_eq!(next_chunk(&mut chunks).await, "c");
}

#[tokio::test]
async fn a_broken_body_says_so() {
    let (tx, reply) = fed();
    let mut chunks = reply.chunks();
    tx.send(Err(std::io::Error::other("connection reset by peer")))
        .await
        .expect("the reply is read");
    match chunks.next().await {
        Some(Err(e @ BodyError::Broken(_))) => {
            assert!(
                format!("{e:?}").contains("connection reset by peer"),
                "{e:?}"
            );
        }
        other => panic!("expected a broken body, got {other:?}"),
    }
}
