//! Sorting tickets by id, and by priority then id, without moving them.
//!
//! Ids are compared through a number made of their first eight bytes before
//! the full strings, because most ids differ within eight bytes and one
//! integer comparison is cheaper than a call to `memcmp`.

use std::cmp::Ordering;

use crate::Ticket;

/// An entry of an id index: the id's prefix key and the ticket's index.
pub(crate) type IdEntry = (u64, usize);

/// Returns the first eight bytes of `id`, zero-padded, as a big-endian number.
///
/// For two ids with different keys, the keys compare as the ids do in byte
/// order. Equal keys leave the order to the full ids.
pub(crate) fn id_key(id: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let length = id.len().min(8);
    bytes[..length].copy_from_slice(&id.as_bytes()[..length]);
    u64::from_be_bytes(bytes)
}

/// Compares the id of `entry` with `id`, whose key is `key`.
pub(crate) fn compare_id(tickets: &[Ticket], entry: IdEntry, key: u64, id: &str) -> Ordering {
    entry
        .0
        .cmp(&key)
        .then_with(|| tickets[entry.1].id.as_str().cmp(id))
}

/// Returns an index of `tickets` ordered by id (byte order).
pub(crate) fn by_id(tickets: &[Ticket]) -> Vec<IdEntry> {
    let mut entries: Vec<IdEntry> = tickets
        .iter()
        .enumerate()
        .map(|(index, ticket)| (id_key(&ticket.id), index))
        .collect();
    entries.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| tickets[a.1].id.cmp(&tickets[b.1].id))
    });
    entries
}

/// Returns the indexes of `tickets` ordered by priority, then id.
pub(crate) fn by_priority_then_id(tickets: &[Ticket]) -> Vec<usize> {
    let mut keys: Vec<(u32, u64, usize)> = tickets
        .iter()
        .enumerate()
        .map(|(index, ticket)| (ticket.priority, id_key(&ticket.id), index))
        .collect();
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| tickets[a.2].id.cmp(&tickets[b.2].id))
    });
    keys.into_iter().map(|(_, _, index)| index).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_key_orders_like_bytes() {
        let ids = ["", "a", "a\0", "ab", "abcdefgh", "abcdefghi", "b", "\u{e9}"];
        for a in ids {
            for b in ids {
                let (key_a, key_b) = (id_key(a), id_key(b));
                if key_a != key_b {
                    assert_eq!(key_a.cmp(&key_b), a.cmp(b), "{a:?} vs {b:?}");
                }
            }
        }
    }
}
