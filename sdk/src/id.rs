//! Deterministic identifiers derived from source ids, so a re-run marks QuickBooks records the
//! same way and an idempotency probe can find them.
//!
//! - [`external_guid`]: the `ExternalGUID` of an added record, a UUIDv5 of the source id.
//! - [`ref_number`]: a `RefNumber` that fits the field (11 characters, Bill 20).
//! - [`memo_marker`]: the `src:<id>` marker to put in a transaction's memo.

use uuid::Uuid;

/// Root namespace of every qbridge UUIDv5: an arbitrary constant chosen once. It must never
/// change: that would change every GUID and hashed RefNumber ever issued, and re-runs would
/// no longer recognise their earlier records.
const QBRIDGE_ROOT: Uuid = Uuid::from_u128(0x6d3c_5a1e_2f8b_5c4d_9e7a_1b2c_3d4e_5f60);

/// Shortest hash part [`ref_number`] accepts: 6 base-32 characters, 30 bits.
const MIN_HASH_LEN: usize = 6;

/// Crockford base-32 (no I, L, O, U: nothing to misread on a printed invoice).
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Why [`ref_number`] cannot make a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The prefix leaves too little room for a collision-resistant hash.
    #[error(
        "RefNumber prefix {prefix:?} leaves fewer than {MIN_HASH_LEN} of {max_len} characters for the hash: use a shorter prefix"
    )]
    PrefixTooLong {
        /// The prefix given.
        prefix: String,
        /// The field's maximum length.
        max_len: usize,
    },
}

/// The `ExternalGUID` for the record that `source_id` becomes, in QuickBooks' form
/// `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}` (upper case, braces).
///
/// It is UUIDv5(UUIDv5(qbridge root, `namespace`), `source_id`): the same pair always gives the
/// same GUID, and different namespaces (e.g. `autotask:invoice` and `ramp:bill`) never collide.
///
/// ```
/// use qbridge_sdk::id::external_guid;
/// let g = external_guid("autotask:invoice", "29684512");
/// assert_eq!(g, external_guid("autotask:invoice", "29684512"));
/// assert_eq!(g.len(), 38);
/// assert!(g.starts_with('{') && g.ends_with('}'));
/// ```
pub fn external_guid(namespace: &str, source_id: &str) -> String {
    let uuid = Uuid::new_v5(&namespace_uuid(namespace), source_id.as_bytes());
    format!("{{{}}}", uuid.hyphenated().to_string().to_ascii_uppercase())
}

/// A `RefNumber` of at most `max_len` characters for `source_id`.
///
/// When `prefix + source_id` fits and is plain printable ASCII it is used as it is, so the
/// number people see in QuickBooks matches the source (`ref_number("", "10457", 11)` is
/// `10457`). Otherwise it is `prefix` + `~` + a base-32 hash of `source_id` filling the rest of
/// the field, at most 25 characters of hash (`ref_number("R", "3f1b6a0e-6c2d-4d2b", 11)` is
/// `R~` and 9 hash characters); the `~` keeps hashed numbers apart from verbatim ones of ids
/// that never contain `~`. The hash is SHA-1 based (UUIDv5); with 9 characters (45 bits),
/// among 100,000 hashed records the chance that any two share a number is about 1 in 7,000,
/// so match probe results on more than the number (ExternalGUID, memo marker).
/// The same input always gives the same number.
pub fn ref_number(prefix: &str, source_id: &str, max_len: usize) -> Result<String, IdError> {
    let verbatim = format!("{prefix}{source_id}");
    let plain = verbatim.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    if plain && !source_id.is_empty() && verbatim.chars().count() <= max_len {
        return Ok(verbatim);
    }
    let room = max_len.saturating_sub(prefix.chars().count() + 1);
    if room < MIN_HASH_LEN {
        return Err(IdError::PrefixTooLong {
            prefix: prefix.to_owned(),
            max_len,
        });
    }
    let digest = Uuid::new_v5(&namespace_uuid("ref_number"), source_id.as_bytes()).as_u128();
    let hash: String = (0..room.min(25))
        .map(|i| BASE32[((digest >> (5 * i)) & 31) as usize] as char)
        .collect();
    Ok(format!("{prefix}~{hash}"))
}

/// Characters a [`distinct_name`] suffix takes: a space, `~` and 5 base-32 hash characters.
const NAME_SUFFIX_LEN: usize = 7;

/// A list name (customer, vendor, item …) for QuickBooks that never merges two different
/// source names, and a note when it differs from `name`.
///
/// QuickBooks keeps `max` characters (41 for customers and vendors, 31 for items) of
/// ISO-8859-1. Cutting "Northwind Traders International Holdings (Europe)" and "… (Asia)" to 41
/// characters gives both the same name, and the second is then booked to the first; CJK names
/// all transliterate to `?…`. So a name that would be cut, or whose transliteration loses
/// characters (`?`), becomes its first `max − 7` characters, `" ~"` and a 5-character hash of
/// the whole source name: deterministic (the same source name always maps to the same
/// QuickBooks name), and different for names that begin alike. A name that fits, perhaps
/// after harmless transliteration (`–` → `-`), is left to the builders.
///
/// ```
/// use qbridge_sdk::id::distinct_name;
/// let a = distinct_name("Northwind Traders International Holdings (Europe)", 41).0;
/// let b = distinct_name("Northwind Traders International Holdings (Asia)", 41).0;
/// assert_ne!(a, b);
/// assert_eq!(a.chars().count(), 41);
/// assert_eq!(distinct_name("Acme Corp", 41), ("Acme Corp".to_string(), None));
/// ```
pub fn distinct_name(name: &str, max: usize) -> (String, Option<String>) {
    let name = name.trim();
    let latin1 = crate::text::transliterate(name);
    let lossy = latin1.matches('?').count() > name.matches('?').count();
    if !lossy && latin1.chars().count() <= max {
        return (name.to_string(), None);
    }
    let digest = Uuid::new_v5(&namespace_uuid("distinct_name"), name.as_bytes()).as_u128();
    let hash: String = (0..5)
        .map(|i| BASE32[((digest >> (5 * i)) & 31) as usize] as char)
        .collect();
    let head: String = latin1
        .chars()
        .take(max.saturating_sub(NAME_SUFFIX_LEN))
        .collect();
    let distinct = format!("{} ~{hash}", head.trim_end());
    let why = if lossy {
        "has characters QuickBooks cannot store"
    } else {
        "is longer than QuickBooks allows"
    };
    let note = format!(
        "name {:?} {why} ({max} characters of ISO-8859-1): booked as {distinct:?}, the hash of the full name keeping it apart from names that begin the same way",
        name.chars().take(120).collect::<String>()
    );
    (distinct, Some(note))
}

/// The marker to put in a transaction's `Memo` so a person (or a probe) can trace it back to
/// its source record: `src:<source_id>`.
pub fn memo_marker(source_id: &str) -> String {
    format!("src:{source_id}")
}

fn namespace_uuid(namespace: &str) -> Uuid {
    Uuid::new_v5(&QBRIDGE_ROOT, namespace.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cut_or_transliterated_stay_distinct_and_stable() {
        let long = "Northwind Traders International Holdings (Europe) GmbH";
        let (a, note) = distinct_name(long, 41);
        assert_eq!(a, distinct_name(long, 41).0, "deterministic");
        assert!(a.starts_with("Northwind Traders International Ho ~"), "{a}");
        assert!(note.unwrap().contains("longer"));
        assert_ne!(
            a,
            distinct_name("Northwind Traders International Holdings (Asia)", 41).0
        );
        let (x, _) = distinct_name("山田商事", 41);
        let (y, _) = distinct_name("田中商事", 41);
        assert_ne!(x, y);
        assert!(x.starts_with("???? ~"), "{x}");
        assert_eq!(
            distinct_name("Café – Ltd", 41),
            ("Café – Ltd".to_string(), None)
        );
        assert_eq!(distinct_name("  Who? ", 41), ("Who?".to_string(), None));
    }

    #[test]
    fn external_guid_is_stable_and_namespaced() {
        let a = external_guid("ramp:bill", "3f1b6a0e");
        assert_eq!(a, external_guid("ramp:bill", "3f1b6a0e"));
        assert_ne!(a, external_guid("ramp:transaction", "3f1b6a0e"));
        assert_ne!(a, external_guid("ramp:bill", "3f1b6a0f"));
        let inner = a.trim_start_matches('{').trim_end_matches('}');
        assert_eq!(Uuid::parse_str(inner).unwrap().get_version_num(), 5);
        assert_eq!(a, a.to_ascii_uppercase());
    }

    #[test]
    fn short_ids_become_the_ref_number_verbatim() {
        assert_eq!(ref_number("", "10457", 11).unwrap(), "10457");
        assert_eq!(ref_number("AT", "10457", 11).unwrap(), "AT10457");
    }

    #[test]
    fn long_ids_get_a_stable_hash_within_the_limit() {
        let id = "3f1b6a0e-6c2d-4d2b-9a51-2c0b7f7d9e11";
        let r = ref_number("R", id, 11).unwrap();
        assert_eq!(r.len(), 11);
        assert!(r.starts_with("R~"));
        assert_eq!(r, ref_number("R", id, 11).unwrap());
        assert_ne!(
            r,
            ref_number("R", "3f1b6a0e-6c2d-4d2b-9a51-2c0b7f7d9e12", 11).unwrap()
        );
        assert_eq!(ref_number("", id, 20).unwrap().len(), 20);
    }

    #[test]
    fn non_ascii_ids_are_hashed() {
        assert!(ref_number("", "Façade", 11).unwrap().starts_with('~'));
        assert!(ref_number("", "", 11).unwrap().starts_with('~'));
    }

    #[test]
    fn a_prefix_that_leaves_no_room_is_an_error() {
        assert!(matches!(
            ref_number("INVOICE-", "12345678901", 11),
            Err(IdError::PrefixTooLong { .. })
        ));
    }
}
