//! The audit log as CSV (`/admin/audit.csv`, `/w/{slug}/audit.csv`): the filtered events,
//! streamed in batches.

use actix_web::{HttpResponse, web};

use super::workspace::{AuditQuery, entry, to_filter};
use crate::error::{Error, Result};
use crate::services::audit;
use crate::state::AppState;
use crate::web::csv::Csv;

/// The filtered log as CSV, streamed in batches so a large export does not sit in memory.
pub async fn audit_csv_response(
    state: &AppState,
    q: AuditQuery,
    workspace_id: Option<String>,
) -> Result<HttpResponse> {
    let mut filter = to_filter(&q, workspace_id)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<web::Bytes, Error>>(4);
    let pool = state.pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut header = Csv::with_capacity(64);
        header.record([
            "id",
            "time",
            "actor",
            "ip",
            "workspace",
            "action",
            "target",
            "details",
        ]);
        if tx
            .blocking_send(Ok(web::Bytes::from(header.into_bytes())))
            .is_err()
        {
            return;
        }
        let mut conn = match pool.get() {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.blocking_send(Err(e.into()));
                return;
            }
        };
        loop {
            let (rows, next) = match audit::list(&mut conn, &filter, 2000) {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            let mut chunk = Csv::with_capacity(rows.len() * 160);
            for r in rows {
                let e = entry(r);
                chunk.record([
                    e.id.to_string(),
                    e.time,
                    e.actor,
                    e.ip,
                    e.workspace,
                    e.action,
                    e.target,
                    e.details,
                ]);
            }
            if tx
                .blocking_send(Ok(web::Bytes::from(chunk.into_bytes())))
                .is_err()
            {
                return;
            }
            match next {
                Some(n) => filter.before = Some(n),
                None => return,
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            "attachment; filename=\"keyhold-audit.csv\"",
        ))
        .streaming(stream))
}
