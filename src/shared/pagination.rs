//! Cursor pagination. A cursor is opaque to clients: the hex form of the last
//! id on the page, so nothing about our ids becomes a contract.

use super::clock::MAX_ID_LEN;
use crate::error::AppError;

/// The cursor that continues after `last_id`.
pub fn encode_cursor(last_id: &str) -> String {
    hex::encode(last_id)
}

/// The id a cursor continues after; ids always carry `id_prefix`, so a
/// cursor from another listing (or made up) is refused.
pub fn decode_cursor(raw: Option<&str>, id_prefix: &str) -> Result<Option<String>, AppError> {
    let Some(raw) = raw.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let invalid = || {
        AppError::field(
            "cursor",
            "This cursor is not valid. Start from the first page.",
        )
    };
    if raw.len() > 2 * MAX_ID_LEN {
        return Err(invalid());
    }
    let id = hex::decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|id| {
            id.starts_with(id_prefix) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .ok_or_else(invalid)?;
    Ok(Some(id))
}

/// The page size asked for: 1 to `max`, `default` when unset.
pub fn page_size(limit: Option<i64>, default: i64, max: i64) -> Result<i64, AppError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(AppError::field(
            "limit",
            format!("The page size must be between 1 and {max}."),
        )),
    }
}

/// Splits `limit + 1` fetched rows into a page and the cursor after it.
pub fn into_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    id_of: impl Fn(&T) -> &str,
) -> (Vec<T>, Option<String>) {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if has_more {
        rows.last().map(|row| encode_cursor(id_of(row)))
    } else {
        None
    };
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_is_checked() {
        let cursor = encode_cursor("key_0193abc");
        assert_eq!(
            decode_cursor(Some(&cursor), "key_").unwrap().as_deref(),
            Some("key_0193abc")
        );
        assert_eq!(decode_cursor(None, "key_").unwrap(), None);
        assert_eq!(decode_cursor(Some(""), "key_").unwrap(), None);
        for bad in [
            "zz",
            "6b65795f",
            &encode_cursor("evt_1"),
            &encode_cursor("key_' OR 1=1"),
        ] {
            let error = decode_cursor(Some(bad), "key_x").unwrap_err();
            assert!(error.field_message("cursor").is_some(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_cursor_is_decoded_or_refused_without_panicking(raw in "\\PC{0,200}") {
            let _ = decode_cursor(Some(&raw), "key_");
        }

        #[test]
        fn every_id_round_trips_through_its_cursor(suffix in "[0-9a-f]{32}") {
            let id = format!("key_{suffix}");
            proptest::prop_assert_eq!(decode_cursor(Some(&encode_cursor(&id)), "key_").unwrap(), Some(id));
        }
    }

    #[test]
    fn the_page_size_is_bounded() {
        assert_eq!(page_size(None, 25, 100).unwrap(), 25);
        assert_eq!(page_size(Some(100), 25, 100).unwrap(), 100);
        assert!(page_size(Some(0), 25, 100).is_err());
        assert!(page_size(Some(101), 25, 100).is_err());
    }

    #[test]
    fn one_extra_row_means_there_is_a_next_page() {
        let (page, next) = into_page(vec!["a", "b", "c"], 2, |s| s);
        assert_eq!(page, vec!["a", "b"]);
        assert_eq!(next, Some(encode_cursor("b")));
        let (page, next) = into_page(vec!["a", "b"], 2, |s| s);
        assert_eq!(page.len(), 2);
        assert_eq!(next, None);
    }
}
