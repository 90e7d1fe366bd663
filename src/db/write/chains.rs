//! Activity chains of API keys (see `crate::sessionize`), kept in memory for the transaction.
//!
//! A batch loads each key's chains near its runs once, plans every insertion in memory, and
//! writes the changed chains back at the end; runs do not store their chain (a chain is the
//! interval holding the run's start), so merging chains never rewrites runs.

use std::collections::HashMap;

use sqlx::Row;

use super::Writer;
use crate::db::{Result, StoreError};
use crate::sessionize::{self, Chain, InsertPlan, RemovePlan};

#[derive(Clone, Debug)]
struct CachedChain {
    /// Negative until the chain is inserted.
    id: i64,
    first: i64,
    last: i64,
    auto: Option<i64>,
    changed: bool,
}

/// One key's chains overlapping `[lo, hi]`: complete for that range.
#[derive(Default)]
struct KeyChains {
    lo: i64,
    hi: i64,
    chains: Vec<CachedChain>,
    deleted: Vec<i64>,
}

#[derive(Default)]
pub(super) struct ChainCache {
    keys: HashMap<i64, KeyChains>,
    next_temp: i64,
}

impl KeyChains {
    fn get_mut(&mut self, id: i64) -> Result<&mut CachedChain> {
        self.chains
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| StoreError::Corrupt(format!("activity chain {id} is not loaded")))
    }
}

impl Writer<'_> {
    /// Makes sure the cache holds every chain of `key` overlapping `[lo, hi]`.
    pub(super) async fn load_chains(&mut self, key: i64, lo: i64, hi: i64) -> Result<()> {
        let (mut lo, mut hi) = (lo, hi);
        if let Some(k) = self.chains.keys.get(&key) {
            if k.lo <= lo && k.hi >= hi {
                return Ok(());
            }
            // Widen: write this key's chains back and load the union afresh.
            lo = lo.min(k.lo);
            hi = hi.max(k.hi);
            self.flush_key_chains(key).await?;
            self.chains.keys.remove(&key);
        }
        let rows = sqlx::query(
            "SELECT id, first_start, last_start, auto_session_id FROM chains \
             WHERE api_key_id = $1 AND last_start >= $2 AND first_start <= $3",
        )
        .bind(key)
        .bind(lo)
        .bind(hi)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut chains = Vec::with_capacity(rows.len());
        for r in rows {
            chains.push(CachedChain {
                id: r.try_get(0)?,
                first: r.try_get(1)?,
                last: r.try_get(2)?,
                auto: r.try_get(3)?,
                changed: false,
            });
        }
        self.chains.keys.insert(
            key,
            KeyChains {
                lo,
                hi,
                chains,
                deleted: Vec::new(),
            },
        );
        Ok(())
    }

    /// Adds a run starting at `t` to the key's chains; returns the chain it now belongs to.
    pub(super) async fn chain_insert(&mut self, key: i64, t: i64) -> Result<i64> {
        let gap = self.gap();
        self.load_chains(key, t - gap, t + gap).await?;
        let k = self.chains.keys.get_mut(&key).expect("loaded above");
        let nearby: Vec<Chain> = k
            .chains
            .iter()
            .filter(|c| c.last >= t - gap && c.first <= t + gap)
            .map(|c| Chain {
                id: c.id,
                first_start: c.first,
                last_start: c.last,
            })
            .collect();
        match sessionize::plan_insert(t, &nearby, gap) {
            InsertPlan::NewChain => {
                self.chains.next_temp -= 1;
                let id = self.chains.next_temp;
                let k = self.chains.keys.get_mut(&key).expect("loaded above");
                k.chains.push(CachedChain {
                    id,
                    first: t,
                    last: t,
                    auto: None,
                    changed: true,
                });
                Ok(id)
            }
            InsertPlan::Join {
                survivor,
                absorbed,
                first_start,
                last_start,
            } => {
                let c = k.get_mut(survivor)?;
                c.first = first_start;
                c.last = last_start;
                c.changed = true;
                if absorbed.is_empty() {
                    return Ok(survivor);
                }
                let mut sessions: Vec<i64> = c.auto.into_iter().collect();
                for a in &absorbed {
                    let gone = k.get_mut(*a)?.clone();
                    sessions.extend(gone.auto);
                    if gone.id > 0 {
                        k.deleted.push(gone.id);
                    }
                    k.chains.retain(|c| c.id != *a);
                }
                // The bridged automatic sessions become one, keeping the earliest one's id.
                let keeper = self.earliest_session(&sessions).await?;
                for s in &sessions {
                    if Some(*s) != keeper {
                        if let Some(into) = keeper {
                            self.merge_session(*s, into).await?;
                        }
                    }
                }
                let k = self.chains.keys.get_mut(&key).expect("loaded above");
                k.get_mut(survivor)?.auto = keeper;
                Ok(survivor)
            }
        }
    }

    /// The chain holding a run of `key` that starts at `t`.
    pub(super) async fn chain_at(&mut self, key: i64, t: i64) -> Result<i64> {
        self.load_chains(key, t, t).await?;
        let k = self.chains.keys.get(&key).expect("loaded above");
        k.chains
            .iter()
            .find(|c| c.first <= t && c.last >= t)
            .map(|c| c.id)
            .ok_or_else(|| StoreError::Corrupt(format!("no activity chain of key {key} holds {t}")))
    }

    /// The automatic session of a chain, if it has one yet.
    pub(super) fn chain_auto(&self, key: i64, chain: i64) -> Option<i64> {
        self.chains
            .keys
            .get(&key)?
            .chains
            .iter()
            .find(|c| c.id == chain)?
            .auto
    }

    pub(super) fn set_chain_auto(&mut self, key: i64, chain: i64, auto: Option<i64>) -> Result<()> {
        let k =
            self.chains.keys.get_mut(&key).ok_or_else(|| {
                StoreError::Corrupt(format!("chains of key {key} are not loaded"))
            })?;
        let c = k.get_mut(chain)?;
        c.auto = auto;
        c.changed = true;
        Ok(())
    }

    /// Forgets an automatic session that no longer exists (it lost its last run).
    pub(super) fn forget_auto(&mut self, session: i64) {
        for k in self.chains.keys.values_mut() {
            for c in k.chains.iter_mut().filter(|c| c.auto == Some(session)) {
                c.auto = None;
                c.changed = true;
            }
        }
    }

    /// A run that started at `t` has moved away: shrink, split or delete the chain that held it.
    pub(super) async fn chain_remove_point(&mut self, key: i64, t: i64) -> Result<()> {
        let gap = self.gap();
        self.load_chains(key, t - gap, t + gap).await?;
        let k = self.chains.keys.get(&key).expect("loaded above");
        let Some(held) = k
            .chains
            .iter()
            .find(|c| c.first <= t && c.last >= t)
            .cloned()
        else {
            return Ok(());
        };
        // The neighbours come from the runs themselves, so buffered runs must be written first.
        self.flush_runs().await?;
        let pred = sqlx::query(
            "SELECT MAX(started_at) FROM runs \
             WHERE api_key_id = $1 AND started_at <= $2 AND started_at >= $3",
        )
        .bind(key)
        .bind(t)
        .bind(t - gap)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get::<Option<i64>, _>(0)?;
        let succ = sqlx::query(
            "SELECT MIN(started_at) FROM runs \
             WHERE api_key_id = $1 AND started_at >= $2 AND started_at <= $3",
        )
        .bind(key)
        .bind(t)
        .bind(t + gap)
        .fetch_one(&mut *self.tx)
        .await?
        .try_get::<Option<i64>, _>(0)?;
        let chain = Chain {
            id: held.id,
            first_start: held.first,
            last_start: held.last,
        };
        let plan = sessionize::plan_remove(t, &chain, pred, succ, gap);
        let k = self.chains.keys.get_mut(&key).expect("loaded above");
        match plan {
            RemovePlan::Keep => {}
            RemovePlan::Delete => {
                if held.id > 0 {
                    k.deleted.push(held.id);
                }
                k.chains.retain(|c| c.id != held.id);
                if let Some(s) = held.auto {
                    self.dirty.insert(s);
                }
            }
            RemovePlan::Shrink {
                first_start,
                last_start,
            } => {
                let c = k.get_mut(held.id)?;
                c.first = first_start;
                c.last = last_start;
                c.changed = true;
            }
            RemovePlan::Split { last_start, at } => {
                let c = k.get_mut(held.id)?;
                c.last = last_start;
                c.changed = true;
                self.chains.next_temp -= 1;
                let later = self.chains.next_temp;
                let k = self.chains.keys.get_mut(&key).expect("loaded above");
                k.chains.push(CachedChain {
                    id: later,
                    first: at,
                    last: held.last,
                    auto: None,
                    changed: true,
                });
                if let Some(s) = held.auto {
                    let (earlier_auto, later_auto) = self.split_session(s, at, key).await?;
                    self.set_chain_auto(key, held.id, earlier_auto)?;
                    self.set_chain_auto(key, later, later_auto)?;
                }
            }
        }
        Ok(())
    }

    /// Writes every cached chain change back.
    pub(super) async fn flush_chains(&mut self) -> Result<()> {
        let keys: Vec<i64> = self.chains.keys.keys().copied().collect();
        for key in keys {
            self.flush_key_chains(key).await?;
        }
        Ok(())
    }

    async fn flush_key_chains(&mut self, key: i64) -> Result<()> {
        let project = self.owner.project_id;
        let Some(k) = self.chains.keys.get_mut(&key) else {
            return Ok(());
        };
        for id in std::mem::take(&mut k.deleted) {
            sqlx::query("DELETE FROM chains WHERE id = $1")
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
        }
        for c in k.chains.iter_mut().filter(|c| c.changed) {
            if c.id < 0 {
                let row = sqlx::query(
                    "INSERT INTO chains (project_id, api_key_id, first_start, last_start, \
                     auto_session_id) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(project)
                .bind(key)
                .bind(c.first)
                .bind(c.last)
                .bind(c.auto)
                .fetch_one(&mut *self.tx)
                .await?;
                c.id = row.try_get(0)?;
            } else {
                sqlx::query(
                    "UPDATE chains SET first_start = $1, last_start = $2, auto_session_id = $3 \
                     WHERE id = $4",
                )
                .bind(c.first)
                .bind(c.last)
                .bind(c.auto)
                .bind(c.id)
                .execute(&mut *self.tx)
                .await?;
            }
            c.changed = false;
        }
        Ok(())
    }
}
