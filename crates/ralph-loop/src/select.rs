//! Component-safe choice of the tickets to launch next.
//!
//! Two sessions that run at once never share a `component:` tag. A ticket
//! without components is either exclusive (it runs alone) or unconstrained,
//! as the `parallelAllowUntagged` setting decides.

use std::collections::BTreeSet;

/// A ready or active ticket, reduced to its id and its `component:` tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate<'a> {
    pub id: &'a str,
    pub components: Vec<&'a str>,
}

/// Picks the tickets to launch now, at most `slots` of them.
///
/// Walks `ready` in its order (the backlog's ready order: priority, then id)
/// and takes each ticket that fits: one that shares no component with an
/// `active` ticket or with a ticket picked before it. A ticket whose id is
/// already active or already picked is skipped.
///
/// Tickets without components follow `allow_untagged`. When it is false, such
/// a ticket is picked only if nothing is active or picked yet, and while it
/// is active or picked nothing else is. When it is true, it conflicts with
/// nothing.
///
/// NOTE: with `allow_untagged` false, the walk goes on past an untagged
/// ticket, so a steady supply of tagged tickets keeps it waiting until the
/// active sessions all finish together.
pub(crate) fn select<'a>(
    ready: &[Candidate<'a>],
    active: &[Candidate<'_>],
    slots: usize,
    allow_untagged: bool,
) -> Vec<&'a str> {
    let exclusive = |candidate: &Candidate<'_>| !allow_untagged && candidate.components.is_empty();

    let mut used_components: BTreeSet<&str> = BTreeSet::new();
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for candidate in active {
        used_components.extend(candidate.components.iter().copied());
        ids.insert(candidate.id);
    }
    let mut running_alone = active.iter().any(exclusive);
    let mut picked = Vec::new();

    for candidate in ready {
        if picked.len() >= slots || running_alone {
            break;
        }
        if ids.contains(candidate.id) {
            continue;
        }
        if exclusive(candidate) {
            if !ids.is_empty() {
                continue;
            }
            running_alone = true;
        } else if candidate
            .components
            .iter()
            .any(|c| used_components.contains(c))
        {
            continue;
        }
        used_components.extend(candidate.components.iter().copied());
        ids.insert(candidate.id);
        picked.push(candidate.id);
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidate<'a>(id: &'a str, components: &[&'a str]) -> Candidate<'a> {
        Candidate {
            id,
            components: components.to_vec(),
        }
    }

    #[test]
    fn select_takes_first_fit_in_ready_order() {
        let ready = [
            candidate("a", &["cli"]),
            candidate("b", &["cli", "docs"]),
            candidate("c", &["docs"]),
            candidate("d", &["tests"]),
        ];
        assert_eq!(select(&ready, &[], 4, false), ["a", "c", "d"]);
    }

    #[test]
    fn select_skips_components_of_active_tickets() {
        let ready = [candidate("a", &["cli"]), candidate("b", &["docs"])];
        let active = [candidate("x", &["cli", "api"])];
        assert_eq!(select(&ready, &active, 4, false), ["b"]);
    }

    #[test]
    fn select_stops_at_slot_count() {
        let ready = [
            candidate("a", &["1"]),
            candidate("b", &["2"]),
            candidate("c", &["3"]),
        ];
        assert_eq!(select(&ready, &[], 2, false), ["a", "b"]);
        assert!(select(&ready, &[], 0, false).is_empty());
    }

    #[test]
    fn select_skips_ids_already_active() {
        let ready = [candidate("a", &["cli"]), candidate("a", &["cli"])];
        let active = [candidate("a", &[])];
        assert!(select(&ready, &active, 4, true).is_empty());
        assert_eq!(select(&ready, &[], 4, true), ["a"]);
    }

    #[test]
    fn untagged_runs_alone_by_default() {
        let ready = [candidate("u", &[]), candidate("a", &["cli"])];
        assert_eq!(select(&ready, &[], 4, false), ["u"]);
    }

    #[test]
    fn untagged_waits_while_others_are_active() {
        let ready = [candidate("u", &[]), candidate("a", &["cli"])];
        let active = [candidate("x", &["docs"])];
        assert_eq!(select(&ready, &active, 4, false), ["a"]);
    }

    #[test]
    fn untagged_waits_behind_earlier_pick() {
        let ready = [candidate("a", &["cli"]), candidate("u", &[])];
        assert_eq!(select(&ready, &[], 4, false), ["a"]);
    }

    #[test]
    fn active_untagged_blocks_everything_by_default() {
        let ready = [candidate("a", &["cli"]), candidate("u", &[])];
        let active = [candidate("x", &[])];
        assert!(select(&ready, &active, 4, false).is_empty());
    }

    #[test]
    fn untagged_conflicts_with_nothing_when_allowed() {
        let ready = [
            candidate("u", &[]),
            candidate("a", &["cli"]),
            candidate("v", &[]),
        ];
        let active = [candidate("x", &[]), candidate("y", &["docs"])];
        assert_eq!(select(&ready, &active, 4, true), ["u", "a", "v"]);
    }

    const COMPONENTS: [&str; 5] = ["api", "cli", "docs", "tests", "config"];

    /// Ticket ids `t0`, `t1`, ... each with up to three components, some
    /// without any.
    fn tickets(max: usize) -> impl Strategy<Value = Vec<Vec<&'static str>>> {
        let components = proptest::sample::subsequence(COMPONENTS.to_vec(), 0..=3);
        proptest::collection::vec(components, 0..max)
    }

    fn candidates<'a>(ids: &'a [String], tags: &[Vec<&'a str>]) -> Vec<Candidate<'a>> {
        ids.iter()
            .zip(tags)
            .map(|(id, components)| Candidate {
                id,
                components: components.clone(),
            })
            .collect()
    }

    fn shares_component(left: &Candidate<'_>, right: &Candidate<'_>) -> bool {
        left.components.iter().any(|c| right.components.contains(c))
    }

    /// Returns whether `candidate` may run beside `other` under the untagged
    /// policy.
    fn compatible(candidate: &Candidate<'_>, other: &Candidate<'_>, allow_untagged: bool) -> bool {
        let untagged = candidate.components.is_empty() || other.components.is_empty();
        if untagged && !allow_untagged {
            return false;
        }
        !shares_component(candidate, other)
    }

    proptest! {
        #[test]
        fn select_keeps_components_apart(
            ready_tags in tickets(12),
            active_tags in tickets(4),
            slots in 0usize..6,
            allow_untagged in any::<bool>(),
        ) {
            let ready_ids: Vec<String> = (0..ready_tags.len()).map(|i| format!("t{i}")).collect();
            let active_ids: Vec<String> =
                (0..active_tags.len()).map(|i| format!("a{i}")).collect();
            let ready = candidates(&ready_ids, &ready_tags);
            let active = candidates(&active_ids, &active_tags);

            let picked = select(&ready, &active, slots, allow_untagged);

            prop_assert!(picked.len() <= slots);
            prop_assert_eq!(&picked, &select(&ready, &active, slots, allow_untagged));

            let chosen: Vec<&Candidate<'_>> = ready
                .iter()
                .filter(|c| picked.contains(&c.id))
                .collect();
            let in_order: Vec<&str> = chosen.iter().map(|c| c.id).collect();
            prop_assert_eq!(&in_order, &picked);

            for (i, candidate) in chosen.iter().enumerate() {
                for other in active.iter().chain(chosen[i + 1..].iter().copied()) {
                    prop_assert!(
                        compatible(candidate, other, allow_untagged),
                        "{} picked beside {}", candidate.id, other.id
                    );
                }
            }
        }

        #[test]
        fn select_skips_only_tickets_that_do_not_fit(
            ready_tags in tickets(12),
            active_tags in tickets(4),
            slots in 0usize..6,
            allow_untagged in any::<bool>(),
        ) {
            let ready_ids: Vec<String> = (0..ready_tags.len()).map(|i| format!("t{i}")).collect();
            let active_ids: Vec<String> =
                (0..active_tags.len()).map(|i| format!("a{i}")).collect();
            let ready = candidates(&ready_ids, &ready_tags);
            let active = candidates(&active_ids, &active_tags);

            let picked = select(&ready, &active, slots, allow_untagged);

            // Each skipped ticket conflicts with a ticket that was running or
            // picked before it, or came after the slots were full.
            let mut before: Vec<&Candidate<'_>> = active.iter().collect();
            let mut count = 0;
            for candidate in &ready {
                if picked.contains(&candidate.id) {
                    before.push(candidate);
                    count += 1;
                    continue;
                }
                let full = count >= slots;
                let conflict = before.iter().any(|o| !compatible(candidate, o, allow_untagged));
                prop_assert!(full || conflict, "{} skipped without a conflict", candidate.id);
            }
        }
    }
}
