//! How runs are grouped into sessions (SPEC §4), as pure functions.
//!
//! Explicit session ids need no logic beyond validation. Automatic sessions are defined per API
//! key over *activity chains*: sort every run of the key (with or without an explicit id) by start
//! time; consecutive runs at most `gap` apart belong to the same chain. A chain's runs that have
//! no explicit id form its automatic session. Because a chain depends only on the set of start
//! times, the grouping is the same whatever order runs arrive in.
//!
//! The store keeps chains as `[first_start, last_start]` intervals and maintains them
//! incrementally with the two plans below: adding a run merges every chain within reach of it,
//! removing a run (or moving its start) may split its chain. [`partition`] is the reference
//! definition the incremental maintenance is tested against.

use rand::Rng;

/// Maximum length of an explicit session id (SPEC §4.1).
pub const MAX_SESSION_ID_LEN: usize = 200;

/// Checks an explicit session id: 1–200 characters, no control characters.
pub fn validate_session_id(id: &str) -> Result<(), String> {
    validate_session_id_max(id, MAX_SESSION_ID_LEN)
}

/// [`validate_session_id`] with another length limit (`--max-session-id-chars`).
pub fn validate_session_id_max(id: &str, max_chars: usize) -> Result<(), String> {
    let chars = id.chars().count();
    if chars == 0 {
        return Err("session id must not be empty".into());
    }
    if chars > max_chars {
        return Err(format!(
            "session id is {chars} characters long; the limit is {max_chars}"
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("session id must not contain control characters".into());
    }
    Ok(())
}

/// A fresh automatic session id: `sess_` + 16 lowercase hex digits.
pub fn new_auto_session_id() -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("sess_{n:016x}")
}

/// True when two runs of one key starting at `a` and `b` (µs) are in the same chain.
pub fn within_gap(a: i64, b: i64, gap_us: i64) -> bool {
    (a - b).abs() <= gap_us
}

/// An activity chain as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub id: i64,
    pub first_start: i64,
    pub last_start: i64,
}

impl Chain {
    /// True when a run starting at `t` joins this chain.
    pub fn reaches(&self, t: i64, gap_us: i64) -> bool {
        t >= self.first_start - gap_us && t <= self.last_start + gap_us
    }
}

/// What adding a run at `t` does to the key's chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertPlan {
    /// No chain within reach: start a new one at `t`.
    NewChain,
    /// Join `survivor`, absorbing `absorbed` (chains the run bridges), with the new bounds.
    Join {
        survivor: i64,
        absorbed: Vec<i64>,
        first_start: i64,
        last_start: i64,
    },
}

/// Plans adding a run at `t`, given the key's chains that overlap `[t - gap, t + gap]`
/// (at most two chains plus one containing `t` can, since chains are more than `gap` apart).
pub fn plan_insert(t: i64, nearby: &[Chain], gap_us: i64) -> InsertPlan {
    let mut reached: Vec<&Chain> = nearby.iter().filter(|c| c.reaches(t, gap_us)).collect();
    if reached.is_empty() {
        return InsertPlan::NewChain;
    }
    // The earliest chain survives so that ids stay with the older activity.
    reached.sort_by_key(|c| (c.first_start, c.id));
    let first_start = reached
        .iter()
        .map(|c| c.first_start)
        .min()
        .unwrap_or(t)
        .min(t);
    let last_start = reached
        .iter()
        .map(|c| c.last_start)
        .max()
        .unwrap_or(t)
        .max(t);
    InsertPlan::Join {
        survivor: reached[0].id,
        absorbed: reached[1..].iter().map(|c| c.id).collect(),
        first_start,
        last_start,
    }
}

/// What removing a run at `t` does to its chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemovePlan {
    /// The chain keeps its bounds.
    Keep,
    /// The run was the only one: the chain disappears.
    Delete,
    /// New bounds (the run was the first or the last).
    Shrink { first_start: i64, last_start: i64 },
    /// The run was the only link between two halves: runs starting at or after `at` form a new
    /// chain, the earlier ones keep the old chain with `last_start` as its new end.
    Split { last_start: i64, at: i64 },
}

/// Plans removing a run at `t` from `chain`. `pred`/`succ` are the nearest other runs of the key
/// starting at or before / at or after `t` (the run itself excluded).
pub fn plan_remove(
    t: i64,
    chain: &Chain,
    pred: Option<i64>,
    succ: Option<i64>,
    gap_us: i64,
) -> RemovePlan {
    let pred = pred.filter(|&p| t - p <= gap_us);
    let succ = succ.filter(|&s| s - t <= gap_us);
    match (pred, succ) {
        (None, None) => RemovePlan::Delete,
        (Some(p), Some(s)) if s - p > gap_us => RemovePlan::Split {
            last_start: p,
            at: s,
        },
        (Some(_), Some(_)) => RemovePlan::Keep,
        (Some(p), None) => RemovePlan::Shrink {
            first_start: chain.first_start,
            last_start: p,
        },
        (None, Some(s)) => RemovePlan::Shrink {
            first_start: s,
            last_start: chain.last_start,
        },
    }
}

/// The reference grouping: for one key's runs given as start times, the chain index of each run.
/// Used by tests as the oracle for the incremental store.
pub fn partition(starts: &[i64], gap_us: i64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..starts.len()).collect();
    order.sort_by_key(|&i| starts[i]);
    let mut chain_of = vec![0; starts.len()];
    let mut chain = 0;
    for (pos, &i) in order.iter().enumerate() {
        if pos > 0 && starts[i] - starts[order[pos - 1]] > gap_us {
            chain += 1;
        }
        chain_of[i] = chain;
    }
    chain_of
}

/// Gateway overhead of one run: (dedup + compression + tool routing) and the total request time
/// it is a share of — the run's duration when known, else the sum of the four phases. `None`
/// when the run reported no gateway phases. All in microseconds.
pub fn overhead_parts(phases: [Option<i64>; 4], duration_us: Option<i64>) -> Option<(i64, i64)> {
    if phases.iter().all(Option::is_none) {
        return None;
    }
    let [dedup, compression, routing, upstream] = phases.map(|p| p.unwrap_or(0));
    let overhead = dedup + compression + routing;
    let total = match duration_us {
        Some(d) if d > 0 => d,
        _ => overhead + upstream,
    };
    Some((overhead, total))
}

/// `overhead ÷ total`, or `None` when there is nothing to divide.
pub fn overhead_ratio(overhead: i64, total: i64) -> Option<f64> {
    (total > 0).then(|| overhead as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GAP: i64 = 30 * 60 * 1_000_000;

    #[test]
    fn session_ids_are_checked() {
        assert!(validate_session_id("conv-1").is_ok());
        assert!(validate_session_id("").is_err());
        assert!(validate_session_id(&"x".repeat(200)).is_ok());
        assert!(validate_session_id(&"x".repeat(201)).is_err());
        assert!(validate_session_id("a\nb").is_err());
        assert!(validate_session_id("<script>").is_ok());
    }

    #[test]
    fn auto_ids_have_the_documented_shape() {
        let id = new_auto_session_id();
        assert_eq!(id.len(), 21);
        assert!(id.starts_with("sess_"));
        assert!(id[5..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn exactly_the_gap_apart_still_joins() {
        assert_eq!(partition(&[0, GAP], GAP), vec![0, 0]);
        assert_eq!(partition(&[0, GAP + 1], GAP), vec![0, 1]);
    }

    #[test]
    fn insert_bridging_two_chains_merges_into_the_earlier() {
        let a = Chain {
            id: 7,
            first_start: 0,
            last_start: 10,
        };
        let b = Chain {
            id: 3,
            first_start: 10 + 2 * GAP,
            last_start: 10 + 3 * GAP,
        };
        let plan = plan_insert(10 + GAP, &[b.clone(), a.clone()], GAP);
        assert_eq!(
            plan,
            InsertPlan::Join {
                survivor: 7,
                absorbed: vec![3],
                first_start: 0,
                last_start: 10 + 3 * GAP
            }
        );
        assert_eq!(plan_insert(10 + GAP + 1, &[a], GAP), InsertPlan::NewChain);
    }

    #[test]
    fn removing_the_bridge_splits() {
        let c = Chain {
            id: 1,
            first_start: 0,
            last_start: 2 * GAP,
        };
        assert_eq!(
            plan_remove(GAP, &c, Some(0), Some(2 * GAP), GAP),
            RemovePlan::Split {
                last_start: 0,
                at: 2 * GAP
            }
        );
        // Another run at the same instant keeps the link.
        assert_eq!(
            plan_remove(GAP, &c, Some(GAP), Some(2 * GAP), GAP),
            RemovePlan::Keep
        );
        assert_eq!(
            plan_remove(2 * GAP, &c, Some(GAP), None, GAP),
            RemovePlan::Shrink {
                first_start: 0,
                last_start: GAP
            }
        );
        let single = Chain {
            id: 1,
            first_start: 5,
            last_start: 5,
        };
        assert_eq!(plan_remove(5, &single, None, None, GAP), RemovePlan::Delete);
        // A neighbour farther than the gap belongs to another chain and is not a link.
        assert_eq!(
            plan_remove(5, &single, Some(5 - GAP - 1), None, GAP),
            RemovePlan::Delete
        );
    }

    #[test]
    fn overhead_uses_duration_when_known() {
        let phases = [Some(2_000), Some(3_000), Some(5_000), Some(90_000)];
        assert_eq!(
            overhead_parts(phases, Some(200_000)),
            Some((10_000, 200_000))
        );
        assert_eq!(overhead_parts(phases, None), Some((10_000, 100_000)));
        assert_eq!(overhead_parts([None; 4], Some(5)), None);
        assert_eq!(overhead_ratio(10_000, 100_000), Some(0.1));
        assert_eq!(overhead_ratio(0, 0), None);
    }

    /// Replays insertions through the chain plans in any order and checks the resulting chains
    /// equal the reference partition.
    fn simulate(starts: &[i64], order: &[usize]) -> Vec<usize> {
        let mut chains: Vec<Chain> = Vec::new();
        let mut chain_of: Vec<Option<i64>> = vec![None; starts.len()];
        let mut next_id = 0;
        for &i in order {
            let t = starts[i];
            match plan_insert(t, &chains, GAP) {
                InsertPlan::NewChain => {
                    next_id += 1;
                    chains.push(Chain {
                        id: next_id,
                        first_start: t,
                        last_start: t,
                    });
                    chain_of[i] = Some(next_id);
                }
                InsertPlan::Join {
                    survivor,
                    absorbed,
                    first_start,
                    last_start,
                } => {
                    chains.retain(|c| !absorbed.contains(&c.id));
                    for c in chain_of.iter_mut() {
                        if c.is_some_and(|id| absorbed.contains(&id)) {
                            *c = Some(survivor);
                        }
                    }
                    let c = chains.iter_mut().find(|c| c.id == survivor).unwrap();
                    c.first_start = first_start;
                    c.last_start = last_start;
                    chain_of[i] = Some(survivor);
                }
            }
        }
        // Relabel chains by order of first start so the result is comparable to `partition`.
        let mut ids: Vec<(i64, i64)> = chains.iter().map(|c| (c.first_start, c.id)).collect();
        ids.sort();
        chain_of
            .iter()
            .map(|c| ids.iter().position(|(_, id)| Some(*id) == *c).unwrap())
            .collect()
    }

    proptest! {
        #[test]
        fn incremental_insertion_matches_the_reference(
            steps in proptest::collection::vec(0i64..(3 * 60), 1..40),
            seed in any::<u64>(),
        ) {
            // Start times in minutes, clustered so gaps fall on both sides of 30 minutes.
            let mut t = 0;
            let starts: Vec<i64> = steps.iter().map(|m| { t += m * 60 * 1_000_000 / 4; t }).collect();
            let mut order: Vec<usize> = (0..starts.len()).collect();
            let mut s = seed;
            for i in (1..order.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (s >> 33) as usize % (i + 1));
            }
            prop_assert_eq!(simulate(&starts, &order), partition(&starts, GAP));
        }
    }
}
