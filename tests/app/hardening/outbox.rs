//! The outbox with two instances on one database (SPEC §1, §9): both instances' mail workers
//! run at once against the same queue, and every mail reaches the SMTP server exactly once,
//! also when an outage makes them all due again together.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use futures_util::future::join_all;
use keyhold::db::models::OutboxRow;
use keyhold::db::schema::outbox;
use reqwest::StatusCode;

use crate::helpers::{Options, TestApp};

/// A second instance on `a`'s database and secrets that also sends to `a`'s SMTP sink (the
/// harness's sibling gets a sink of its own), so one sink sees every delivery.
async fn sibling_on_the_same_sink(a: &TestApp) -> TestApp {
    let env = a
        .env
        .iter()
        .filter(|(k, _)| {
            k.starts_with("KEYHOLD_MASTER")
                || k.starts_with("KEYHOLD_SESSION")
                || k.starts_with("KEYHOLD_PROVIDER")
                || *k == "KEYHOLD_SMTP_URL"
                || *k == "KEYHOLD_MAIL_FROM"
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    TestApp::spawn_with(Options {
        env,
        database_url: Some(a.db_url.clone()),
        ..Options::default()
    })
    .await
}

fn outbox_rows(app: &TestApp) -> Vec<OutboxRow> {
    outbox::table
        .select(OutboxRow::as_select())
        .load(&mut app.db())
        .expect("outbox")
}

#[tokio::test]
async fn two_instances_deliver_every_queued_mail_exactly_once() {
    let a = TestApp::spawn().await;
    let b = sibling_on_the_same_sink(&a).await;
    assert_eq!(b.env["KEYHOLD_SMTP_URL"], a.smtp.url());
    let (owner, owner_id) = a.user_client("owner@example.test", false).await;
    let (_, slug) = a.create_workspace("acme", &[(&owner_id, "owner")]);
    let invite_path = format!("/w/{slug}/settings/members/invite");
    const N: usize = 20;
    let guests: Vec<String> = (0..2 * N)
        .map(|i| format!("guest{i}@example.test"))
        .collect();
    // Each invitation is queued in the transaction of its cause and wakes the worker of the
    // instance that took the request; posted to both at once, both workers are busy.
    let invite = |range: std::ops::Range<usize>| {
        let (a, b, owner, path, guests) = (&a, &b, &owner, &invite_path, &guests);
        join_all(range.map(move |i| async move {
            let app = if i % 2 == 0 { a } else { b };
            let r = app
                .post_form(owner, path, &[("email", &guests[i]), ("role", "member")])
                .await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "inviting {}", guests[i]);
        }))
    };

    // A burst while the SMTP server answers.
    invite(0..N).await;
    // A second burst while it refuses mail: every row fails, then all come due again
    // together, and both workers (polling each second) race for them.
    a.smtp.set_down(true);
    invite(N..2 * N).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let refused = a.smtp.refused();
    a.smtp.set_down(false);

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let unsent = outbox_rows(&a)
            .iter()
            .filter(|r| r.sent_at.is_none())
            .count();
        if unsent == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{unsent} mails still unsent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Time for a late duplicate to arrive, if a row was sent twice.
    tokio::time::sleep(Duration::from_secs(3)).await;

    assert!(refused > 0, "the outage refused deliveries");
    let mails = a.smtp.messages();
    let mut per_recipient: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in &mails {
        for to in &m.envelope_to {
            *per_recipient
                .entry((to.clone(), m.subject.clone()))
                .or_default() += 1;
        }
    }
    let twice: Vec<_> = per_recipient.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(mails.len(), 2 * N, "one mail per invitation");
    for g in &guests {
        assert!(
            per_recipient
                .keys()
                .any(|(to, subject)| to == g && subject.contains("invited")),
            "{g} got the invitation"
        );
    }
    let mut ids: Vec<String> = mails
        .iter()
        .filter_map(|m| {
            m.raw
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .map(str::to_owned)
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2 * N, "one Message-ID per mail");
    let rows = outbox_rows(&a);
    assert_eq!(rows.len(), 2 * N);
    assert!(
        rows.iter()
            .all(|r| r.sent_at.is_some() && r.body_text.is_empty() && r.locked_until.is_none()),
        "every row is sent, its body wiped and its lease released"
    );
    assert!(
        rows.iter().filter(|r| r.attempts > 1).count() >= N,
        "the second burst was retried after the outage"
    );
}
