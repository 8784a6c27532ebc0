//! Properties of record parsing: written records read back unchanged, and
//! no input makes the parser panic.

use std::path::Path;

use proptest::prelude::*;
use runlock::{ProcessIdentity, Record, Uuid};

fn identity() -> impl Strategy<Value = ProcessIdentity> {
    (1u32..4_000_000, any::<u64>(), "[a-f0-9-]{1,36}").prop_map(|(pid, start_ticks, boot_id)| {
        ProcessIdentity {
            pid,
            start_ticks,
            boot_id,
        }
    })
}

proptest! {
    #[test]
    fn written_record_reads_back(
        owner in identity(),
        host in "[a-zA-Z0-9.-]{1,64}",
        members in proptest::collection::vec(identity(), 0..4),
        run in any::<u128>(),
    ) {
        let mut record = Record::new(Uuid::from_u128(run), &owner, &host);
        record.members = members;
        let parsed = Record::parse(record.to_json().as_bytes(), Path::new("l"));
        prop_assert_eq!(parsed.ok(), Some(record));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Record::parse(&bytes, Path::new("l"));
    }

    #[test]
    fn arbitrary_json_never_panics(text in r#"\{("[a-zA-Z]{1,16}":("[^"]{0,20}"|[0-9.e+-]{1,24}|null|\[\]),?){0,8}\}"#) {
        let _ = Record::parse(text.as_bytes(), Path::new("l"));
    }
}
