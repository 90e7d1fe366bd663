//! Sessions as the write path sees them: explicit ones found or created by id, automatic ones
//! owned by activity chains, and the merges and splits chains cause.

use sqlx::Row;

use super::{placeholders, positional, value_rows, Writer, MAX_BINDS};
use crate::db::Result;
use crate::ingest::run::Run;
use crate::sessionize;

impl Writer<'_> {
    pub(super) async fn session_for(&mut self, run: &Run, chain: i64, key_id: i64) -> Result<i64> {
        match &run.session_id {
            Some(id) => {
                self.explicit_session(id, run.session_source.as_deref())
                    .await
            }
            None => self.auto_session(chain, key_id).await,
        }
    }

    /// Finds (through aliases too) the explicit sessions a batch names, in bulk, and with
    /// `create` makes the missing ones: only when every one of them is sure to receive a run,
    /// or an empty session would be left behind.
    pub(super) async fn prefetch_explicit_sessions(
        &mut self,
        sessions: &[(&str, Option<&str>)],
        create: bool,
    ) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<(&str, Option<&str>)> = sessions
            .iter()
            .filter(|(id, _)| !self.explicit_cache.contains_key(*id) && seen.insert(*id))
            .copied()
            .collect();
        let project = self.owner.project_id;
        for chunk in wanted.chunks(MAX_BINDS / 2) {
            for sql in [
                "SELECT alias, session_id FROM session_aliases WHERE project_id = $1 AND alias IN",
                "SELECT public_id, id FROM sessions WHERE project_id = $1 AND public_id IN",
            ] {
                let sql = positional(
                    self.store.backend,
                    format!("{sql} {}", placeholders(2, chunk.len())),
                );
                let mut q = sqlx::query(&sql).bind(project);
                for (id, _) in chunk {
                    q = q.bind(id.to_string());
                }
                for row in q.fetch_all(&mut *self.tx).await? {
                    // An absorbed id resolves to its survivor (aliases are read first).
                    self.explicit_cache
                        .entry(row.try_get(0)?)
                        .or_insert(row.try_get(1)?);
                }
            }
            if create {
                let missing: Vec<(&str, Option<&str>)> = chunk
                    .iter()
                    .filter(|(id, _)| !self.explicit_cache.contains_key(*id))
                    .copied()
                    .collect();
                self.create_explicit_many(&missing).await?;
            }
        }
        Ok(())
    }

    /// Creates these explicit sessions (distinct ids, none existing) in one statement; callers
    /// pass at most one lookup chunk (`MAX_BINDS / 2` ids, so 4 × 500 bound values).
    async fn create_explicit_many(&mut self, sessions: &[(&str, Option<&str>)]) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO sessions (project_id, public_id, kind, grouped_by) VALUES {} \
             RETURNING public_id, id",
            value_rows(self.store.backend, sessions.len(), 4)
        );
        let mut q = sqlx::query(&sql);
        for (id, source) in sessions {
            q = q
                .bind(self.owner.project_id)
                .bind(id.to_string())
                .bind("explicit")
                .bind(source.map(str::to_string));
        }
        for row in q.fetch_all(&mut *self.tx).await? {
            self.explicit_cache.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(())
    }

    async fn explicit_session(&mut self, public_id: &str, source: Option<&str>) -> Result<i64> {
        if let Some(id) = self.explicit_cache.get(public_id) {
            return Ok(*id);
        }
        // Only called for a run about to be placed in it, so creating it leaves nothing empty.
        self.prefetch_explicit_sessions(&[(public_id, source)], true)
            .await?;
        self.explicit_cache.get(public_id).copied().ok_or_else(|| {
            crate::db::StoreError::Corrupt(format!("session `{public_id}` was not created"))
        })
    }

    async fn auto_session(&mut self, chain: i64, key_id: i64) -> Result<i64> {
        if let Some(id) = self.chain_auto(key_id, chain) {
            return Ok(id);
        }
        let id = self.new_auto_session(key_id).await?;
        self.set_chain_auto(key_id, chain, Some(id))?;
        Ok(id)
    }

    async fn new_auto_session(&mut self, key_id: i64) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO sessions (project_id, public_id, kind, api_key_id) \
             VALUES ($1, $2, 'automatic', $3) RETURNING id",
        )
        .bind(self.owner.project_id)
        .bind(sessionize::new_auto_session_id())
        .bind(key_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Moves every run of `from` into `into`; `from`'s id becomes an alias of `into`.
    pub(super) async fn merge_session(&mut self, from: i64, into: i64) -> Result<()> {
        self.flush_runs().await?;
        self.sessions_moved = true;
        let tx = &mut *self.tx;
        sqlx::query("UPDATE runs SET session_id = $1 WHERE session_id = $2")
            .bind(into)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE session_aliases SET session_id = $1 WHERE session_id = $2")
            .bind(into)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO session_aliases (project_id, alias, session_id) \
             SELECT project_id, public_id, $1 FROM sessions WHERE id = $2",
        )
        .bind(into)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM session_facets WHERE session_id = $1")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(from)
            .execute(&mut *tx)
            .await?;
        self.explicit_cache.retain(|_, s| *s != from);
        self.deltas.remove(&from);
        self.dirty.remove(&from);
        self.dirty.insert(into);
        Ok(())
    }

    /// Of several sessions, the one whose first run is earliest (ties: lowest id).
    pub(super) async fn earliest_session(&mut self, sessions: &[i64]) -> Result<Option<i64>> {
        if sessions.len() < 2 {
            return Ok(sessions.first().copied());
        }
        self.flush_runs().await?;
        let sql = format!(
            "SELECT session_id, MIN(started_at) FROM runs WHERE session_id IN {} \
             GROUP BY session_id",
            placeholders(1, sessions.len())
        );
        let mut q = sqlx::query(&sql);
        for s in sessions {
            q = q.bind(*s);
        }
        let mut best: Option<(i64, i64)> = None;
        for r in q.fetch_all(&mut *self.tx).await? {
            let cand = (r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(0)?);
            if best.is_none_or(|b| cand < b) {
                best = Some(cand);
            }
        }
        Ok(best.map(|b| b.1).or(sessions.first().copied()))
    }

    /// The automatic session `s` of a chain that split at `at`: runs from `at` on follow the
    /// later chain. Returns the automatic sessions of the earlier and the later chain. The
    /// earlier part keeps the id; a session entirely after the split simply changes chains.
    pub(super) async fn split_session(
        &mut self,
        s: i64,
        at: i64,
        key_id: i64,
    ) -> Result<(Option<i64>, Option<i64>)> {
        self.flush_runs().await?;
        let count = |op: &str| {
            format!("SELECT COUNT(*) FROM runs WHERE session_id = $1 AND started_at {op} $2")
        };
        let before: i64 = sqlx::query(&count("<"))
            .bind(s)
            .bind(at)
            .fetch_one(&mut *self.tx)
            .await?
            .try_get(0)?;
        let after: i64 = sqlx::query(&count(">="))
            .bind(s)
            .bind(at)
            .fetch_one(&mut *self.tx)
            .await?
            .try_get(0)?;
        match (before > 0, after > 0) {
            (true, true) => {
                let s2 = self.new_auto_session(key_id).await?;
                self.sessions_moved = true;
                sqlx::query(
                    "UPDATE runs SET session_id = $1 WHERE session_id = $2 AND started_at >= $3",
                )
                .bind(s2)
                .bind(s)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                self.deltas.remove(&s);
                self.dirty.insert(s);
                self.dirty.insert(s2);
                Ok((Some(s), Some(s2)))
            }
            (false, true) => Ok((None, Some(s))),
            _ => Ok((Some(s), None)),
        }
    }
}
