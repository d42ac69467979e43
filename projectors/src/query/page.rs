//! Paging, once for every list: a page size of 1 to 500 (default 50) and an opaque cursor.

use base64::Engine as _;
use platform::http::FieldError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest page.
pub(crate) const MAX_LIMIT: i64 = 500;

/// An opaque cursor: the key of the last item of a page (any serializable key: an id, a time
/// and an id, an offset), as base64url JSON. Every list pages with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor;

impl Cursor {
    /// The cursor of `key`.
    pub(crate) fn encode<K: Serialize>(key: &K) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(key).unwrap_or_default())
    }

    /// The key in `cursor`; `None` when it is not a cursor of this kind from this API.
    pub(crate) fn decode<K: DeserializeOwned>(cursor: &str) -> Option<K> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        serde_json::from_slice(&raw).ok()
    }
}

/// What a list was asked for: its page size and where to continue.
#[derive(Debug, Clone)]
pub(crate) struct PageRequest<K> {
    /// Items per page (1 to [`MAX_LIMIT`]).
    pub limit: i64,
    /// The last item's key of the previous page.
    pub after: Option<K>,
}

impl<K: DeserializeOwned> PageRequest<K> {
    /// `limit` (1 to 500; `default` when absent) and `cursor`, each wrong one named in `errors`.
    pub(crate) fn new(
        limit: Option<i64>,
        default: i64,
        cursor: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> Self {
        let limit = limit.unwrap_or(default);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = cursor.and_then(|c| {
            let key = Cursor::decode(c);
            if key.is_none() {
                errors.push(FieldError::new("cursor", "not a cursor from this API"));
            }
            key
        });
        Self { limit, after }
    }

    /// Rows to fetch: one more than the page, to know whether another follows.
    pub(crate) fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The page out of `rows` (fetched with [`Self::fetch`]) and the cursor of the next one
    /// (the last item's `key`), `None` on the last page.
    pub(crate) fn page<T, Q: Serialize>(
        &self,
        rows: Vec<T>,
        key: impl Fn(&T) -> Q,
    ) -> (Vec<T>, Option<String>) {
        let size = usize::try_from(self.limit).unwrap_or(0);
        let more = rows.len() > size;
        let mut items = rows;
        items.truncate(size);
        let next = if more {
            items.last().map(|last| Cursor::encode(&key(last)))
        } else {
            None
        };
        (items, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_key_it_was_made_from() {
        let at = chrono::DateTime::from_timestamp_micros(1_790_000_000_123_456).expect("time");
        let id = uuid::Uuid::now_v7();
        assert_eq!(Cursor::decode(&Cursor::encode(&(at, id))), Some((at, id)));
        assert_eq!(
            Cursor::decode::<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>("nope"),
            None
        );
        assert_eq!(Cursor::decode::<uuid::Uuid>(&Cursor::encode(&7)), None);
    }

    #[test]
    fn a_page_is_cut_at_its_limit_and_names_the_next_one() {
        let mut errors = Vec::new();
        let r: PageRequest<i64> = PageRequest::new(Some(2), 50, None, &mut errors);
        assert!(errors.is_empty());
        let (items, next) = r.page(vec![1, 2, 3], |i| *i);
        assert_eq!(items, [1, 2]);
        assert_eq!(next.as_deref().and_then(Cursor::decode::<i64>), Some(2));
        let (items, next) = r.page(vec![1, 2], |i| *i);
        assert_eq!((items.len(), next), (2, None));
        let _: PageRequest<i64> = PageRequest::new(Some(501), 50, Some("zz"), &mut errors);
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn dates_are_plain_days() {
        use crate::query::common::parse_date;
        let mut errors = Vec::new();
        assert!(parse_date("from", Some("2026-11-21"), &mut errors).is_some());
        assert!(parse_date("from", Some("2026-13-01"), &mut errors).is_none());
        assert!(parse_date("to", Some("2026-1-1"), &mut errors).is_none());
        assert_eq!(errors.len(), 2);
    }
}
