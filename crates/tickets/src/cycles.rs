//! Finding dependency cycles among the tickets that are not closed.

use std::collections::VecDeque;

/// A dependency graph over nodes `0..n`: `edges[v]` are the nodes `v` depends on.
pub(crate) struct Graph {
    pub edges: Vec<Vec<usize>>,
}

impl Graph {
    /// Returns one cycle per strongly connected component that has one.
    ///
    /// Each cycle starts at the smallest node of its component (by the order
    /// of `0..n`) and is a shortest cycle through it, listed in dependency
    /// order: each node depends on the next and the last on the first.
    pub fn cycles(&self) -> Vec<Vec<usize>> {
        let mut cycles = Vec::new();
        for component in self.components() {
            let Some(&start) = component.iter().min() else {
                continue;
            };
            let is_cycle = component.len() > 1 || self.edges[start].contains(&start);
            if is_cycle {
                cycles.extend(self.shortest_cycle(start, &component));
            }
        }
        cycles
    }

    /// Returns the strongly connected components (Tarjan's algorithm, with an
    /// explicit stack so deep chains cannot overflow the thread's stack).
    fn components(&self) -> Vec<Vec<usize>> {
        const UNVISITED: usize = usize::MAX;
        let count = self.edges.len();
        let mut index = vec![UNVISITED; count];
        let mut low = vec![0; count];
        let mut on_stack = vec![false; count];
        let mut stack = Vec::new();
        let mut next_index = 0;
        let mut components = Vec::new();

        for root in 0..count {
            if index[root] != UNVISITED {
                continue;
            }
            let mut calls = vec![(root, 0)];
            index[root] = next_index;
            low[root] = next_index;
            next_index += 1;
            stack.push(root);
            on_stack[root] = true;

            while let Some(&mut (node, ref mut next_edge)) = calls.last_mut() {
                if let Some(&dep) = self.edges[node].get(*next_edge) {
                    *next_edge += 1;
                    if index[dep] == UNVISITED {
                        index[dep] = next_index;
                        low[dep] = next_index;
                        next_index += 1;
                        stack.push(dep);
                        on_stack[dep] = true;
                        calls.push((dep, 0));
                    } else if on_stack[dep] {
                        low[node] = low[node].min(index[dep]);
                    }
                    continue;
                }

                calls.pop();
                if let Some(&(caller, _)) = calls.last() {
                    low[caller] = low[caller].min(low[node]);
                }
                if low[node] == index[node] {
                    let mut component = Vec::new();
                    while let Some(member) = stack.pop() {
                        on_stack[member] = false;
                        component.push(member);
                        if member == node {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
        components
    }

    /// Returns a shortest cycle from `start` back to itself inside `component`.
    fn shortest_cycle(&self, start: usize, component: &[usize]) -> Option<Vec<usize>> {
        let mut inside = vec![false; self.edges.len()];
        for &member in component {
            inside[member] = true;
        }
        let mut previous = vec![usize::MAX; self.edges.len()];
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            for &dep in &self.edges[node] {
                if dep == start {
                    return Some(path_to(&previous, start, node));
                }
                if inside[dep] && previous[dep] == usize::MAX {
                    previous[dep] = node;
                    queue.push_back(dep);
                }
            }
        }
        None
    }
}

/// Follows `previous` links back from `last` to `start`, returning the path
/// in forward order.
fn path_to(previous: &[usize], start: usize, last: usize) -> Vec<usize> {
    let mut path = vec![last];
    let mut node = last;
    while node != start {
        node = previous[node];
        path.push(node);
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycles(edges: &[&[usize]]) -> Vec<Vec<usize>> {
        let edges = edges.iter().map(|deps| deps.to_vec()).collect();
        Graph { edges }.cycles()
    }

    #[test]
    fn chain_has_no_cycle() {
        assert!(cycles(&[&[1], &[2], &[]]).is_empty());
    }

    #[test]
    fn self_dependency_is_cycle() {
        assert_eq!(cycles(&[&[0], &[]]), [vec![0]]);
    }

    #[test]
    fn cycle_starts_at_smallest_node() {
        assert_eq!(cycles(&[&[], &[2], &[3], &[1]]), [vec![1, 2, 3]]);
    }

    #[test]
    fn shortest_cycle_is_chosen() {
        // 0 -> 1 -> 2 -> 0 and the shortcut 0 -> 2.
        assert_eq!(cycles(&[&[1, 2], &[2], &[0]]), [vec![0, 2]]);
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let mut edges: Vec<Vec<usize>> = (1..100_000).map(|next| vec![next]).collect();
        edges.push(vec![0]);
        let found = Graph { edges }.cycles();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), 100_000);
    }
}
