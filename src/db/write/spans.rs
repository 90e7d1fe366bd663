//! Spans and trace rollups: each span stored once, and the mergeable per-trace summary that the
//! trace's run is derived from.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::{placeholders, positional, rows_per_statement, value_rows, Writer, MAX_BINDS};
use crate::db::Result;
use crate::ingest::otlp::mapping::{SpanRecord, TraceRollup};

const SPAN_COLUMNS: usize = 15;
const SPAN_ROWS: usize = rows_per_statement(SPAN_COLUMNS);

impl Writer<'_> {
    /// Inserts spans not stored yet; returns the (trace, span) ids that were new.
    pub(super) async fn insert_spans<'a>(
        &mut self,
        spans: &[&'a SpanRecord],
    ) -> Result<HashSet<(&'a str, &'a str)>> {
        let mut new = HashSet::new();
        for chunk in spans.chunks(SPAN_ROWS) {
            let index: HashMap<(&str, &str), &'a SpanRecord> = chunk
                .iter()
                .map(|s| ((s.trace_id.as_str(), s.span_id.as_str()), *s))
                .collect();
            let sql = format!(
                "INSERT INTO spans (project_id, trace_id, span_id, parent_span_id, name, kind, \
                 category, start_ns, end_ns, status_code, status_message, attributes, resource, \
                 scope, events) VALUES {} ON CONFLICT (project_id, trace_id, span_id) DO NOTHING \
                 RETURNING trace_id, span_id",
                value_rows(self.store.backend, chunk.len(), SPAN_COLUMNS)
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(self.owner.project_id)
                    .bind(s.trace_id.clone())
                    .bind(s.span_id.clone())
                    .bind(s.parent_span_id.clone())
                    .bind(s.name.clone())
                    .bind(s.kind.clone())
                    .bind(s.category.clone())
                    .bind(s.start_ns)
                    .bind(s.end_ns)
                    .bind(s.status_code.clone())
                    .bind(s.status_message.clone())
                    .bind(serde_json::to_string(&s.attributes)?)
                    .bind(serde_json::to_string(&s.resource)?)
                    .bind(s.scope.clone())
                    .bind(serde_json::to_string(&s.events)?);
            }
            for row in q.fetch_all(&mut *self.tx).await? {
                let (t, sp): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                if let Some(s) = index.get(&(t.as_str(), sp.as_str())) {
                    new.insert((s.trace_id.as_str(), s.span_id.as_str()));
                }
            }
        }
        Ok(new)
    }

    /// Loads the rollups of these traces into the cache.
    pub(super) async fn prefetch_rollups(&mut self, traces: &[&str]) -> Result<()> {
        let wanted: Vec<&str> = traces
            .iter()
            .copied()
            .filter(|t| !self.rollups.contains_key(*t))
            .collect();
        for chunk in wanted.chunks(MAX_BINDS / 2) {
            let sql = positional(
                self.store.backend,
                format!(
                    "SELECT trace_id, rollup FROM trace_rollups WHERE project_id = $1 \
                     AND trace_id IN {}",
                    placeholders(2, chunk.len())
                ),
            );
            let mut q = sqlx::query(&sql).bind(self.owner.project_id);
            for t in chunk {
                q = q.bind(t.to_string());
            }
            let rows = q.fetch_all(&mut *self.tx).await?;
            for t in chunk {
                self.rollups.insert(t.to_string(), None);
            }
            for row in rows {
                let trace: String = row.try_get(0)?;
                let rollup: TraceRollup = serde_json::from_str(&row.try_get::<String, _>(1)?)?;
                self.rollups.insert(trace, Some(rollup));
            }
        }
        Ok(())
    }

    pub(super) async fn load_rollup(&mut self, trace_id: &str) -> Result<Option<TraceRollup>> {
        self.prefetch_rollups(&[trace_id]).await?;
        Ok(self.rollups.get(trace_id).cloned().flatten())
    }

    /// Writes rollups in multi-row statements and keeps the cache in step.
    pub(super) async fn store_rollups(
        &mut self,
        rollups: Vec<(String, TraceRollup)>,
    ) -> Result<()> {
        for chunk in rollups.chunks(rows_per_statement(3)) {
            let sql = format!(
                "INSERT INTO trace_rollups (project_id, trace_id, rollup) VALUES {} \
                 ON CONFLICT (project_id, trace_id) DO UPDATE SET rollup = excluded.rollup",
                value_rows(self.store.backend, chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for (trace, rollup) in chunk {
                q = q
                    .bind(self.owner.project_id)
                    .bind(trace.clone())
                    .bind(serde_json::to_string(rollup)?);
            }
            q.execute(&mut *self.tx).await?;
        }
        for (trace, rollup) in rollups {
            self.rollups.insert(trace, Some(rollup));
        }
        Ok(())
    }
}
