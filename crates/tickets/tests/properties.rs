//! Property tests: `ready` and `blocked` on random backlogs written to disk.

use std::collections::BTreeSet;
use std::fs;

use proptest::prelude::*;
use tickets::{Backlog, Status};

/// One generated ticket: status, priority, and deps as indexes into the id pool.
#[derive(Clone, Debug)]
struct Spec {
    status: Status,
    priority: u32,
    deps: Vec<usize>,
}

/// Ids the generator draws from; some are never written, so deps on them dangle.
const ID_POOL: usize = 40;

fn id(index: usize) -> String {
    // Mixed lengths make byte order differ from numeric order.
    format!("t-{}", index * 7 % 97)
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Open),
        Just(Status::InProgress),
        Just(Status::Closed)
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let deps = prop::collection::vec(0..ID_POOL, 0..4);
    (status(), 0u32..5, deps).prop_map(|(status, priority, deps)| Spec {
        status,
        priority,
        deps,
    })
}

/// Generates a backlog: for each pool index, maybe a ticket.
fn backlog_specs() -> impl Strategy<Value = Vec<Option<Spec>>> {
    prop::collection::vec(prop::option::weighted(0.7, spec()), ID_POOL)
}

fn write_backlog(specs: &[Option<Spec>]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create temp dir");
    for (index, spec) in specs.iter().enumerate() {
        let Some(spec) = spec else { continue };
        let deps: Vec<String> = spec.deps.iter().map(|&dep| id(dep)).collect();
        let text = format!(
            "---\nid: {}\nstatus: {}\ndeps: [{}]\npriority: {}\n---\n# Ticket {index}\n",
            id(index),
            spec.status,
            deps.join(", "),
            spec.priority
        );
        fs::write(dir.path().join(format!("{}.md", id(index))), text).expect("write ticket");
    }
    dir
}

fn is_sorted_by_priority_then_id(keys: &[(u32, &str)]) -> bool {
    keys.windows(2).all(|pair| pair[0] <= pair[1])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn ready_and_blocked_partition_active(specs in backlog_specs()) {
        let dir = write_backlog(&specs);
        let backlog = Backlog::load(dir.path()).expect("load backlog");
        prop_assert!(backlog.warnings().is_empty(), "{:?}", backlog.warnings());

        let ready: Vec<&str> = backlog.ready().iter().map(|t| t.id.as_str()).collect();
        let blocked: Vec<&str> = backlog.blocked().iter().map(|(t, _)| t.id.as_str()).collect();
        let ready_set: BTreeSet<&str> = ready.iter().copied().collect();
        let blocked_set: BTreeSet<&str> = blocked.iter().copied().collect();
        let active: BTreeSet<String> = specs
            .iter()
            .enumerate()
            .filter_map(|(index, spec)| spec.as_ref().map(|spec| (index, spec)))
            .filter(|(_, spec)| spec.status != Status::Closed)
            .map(|(index, _)| id(index))
            .collect();
        let union: BTreeSet<String> =
            ready_set.union(&blocked_set).map(|id| id.to_string()).collect();

        prop_assert_eq!(ready_set.len(), ready.len(), "ready lists a ticket twice");
        prop_assert_eq!(blocked_set.len(), blocked.len(), "blocked lists a ticket twice");
        prop_assert!(ready_set.is_disjoint(&blocked_set));
        prop_assert_eq!(union, active);
    }

    #[test]
    fn ready_and_blocked_are_ordered(specs in backlog_specs()) {
        let dir = write_backlog(&specs);
        let backlog = Backlog::load(dir.path()).expect("load backlog");

        let ready = backlog.ready();
        let blocked = backlog.blocked();
        let ready_keys: Vec<(u32, &str)> =
            ready.iter().map(|t| (t.priority, t.id.as_str())).collect();
        let blocked_keys: Vec<(u32, &str)> =
            blocked.iter().map(|(t, _)| (t.priority, t.id.as_str())).collect();

        prop_assert!(is_sorted_by_priority_then_id(&ready_keys), "{:?}", ready_keys);
        prop_assert!(is_sorted_by_priority_then_id(&blocked_keys), "{:?}", blocked_keys);
    }

    #[test]
    fn blocked_lists_exactly_unclosed_deps(specs in backlog_specs()) {
        let dir = write_backlog(&specs);
        let backlog = Backlog::load(dir.path()).expect("load backlog");
        let closed = |dep: usize| {
            specs[dep].as_ref().is_some_and(|spec| spec.status == Status::Closed)
        };

        for (ticket, unclosed) in backlog.blocked() {
            let index = (0..ID_POOL).find(|&index| id(index) == ticket.id).expect("pool id");
            let spec = specs[index].as_ref().expect("written ticket");
            let expected: Vec<String> =
                spec.deps.iter().filter(|&&dep| !closed(dep)).map(|&dep| id(dep)).collect();
            prop_assert_eq!(unclosed, expected);
        }
        for ticket in backlog.ready() {
            let index = (0..ID_POOL).find(|&index| id(index) == ticket.id).expect("pool id");
            let spec = specs[index].as_ref().expect("written ticket");
            prop_assert!(spec.deps.iter().all(|&dep| closed(dep)));
        }
    }
}
