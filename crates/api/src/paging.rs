//! Cursor pagination on the wire: `limit` within a route's bounds, and opaque cursors that say
//! which list and order they belong to (base64url of `<kind>:<key>`), so a cursor from one list
//! used on another is `invalid_cursor`, not a silently wrong page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openpile_core::ids::{ConnectorId, StationId};
use openpile_core::partner::catalog::StationCursor;

use crate::error::ApiError;

/// Reads `limit`: a whole number from 1 to `max`, `default` when absent.
pub(crate) fn page_limit(
    value: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_query("limit", format!("must be a whole number from 1 to {max}"))
            }),
    }
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cursor {
    Station(StationCursor),
    Connector(ConnectorId),
    Notification(String),
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        let text = match self {
            Self::Station(StationCursor::Id(id)) => format!("s:{id}"),
            Self::Station(StationCursor::Distance { millimetres, id }) => {
                format!("d:{millimetres}:{id}")
            }
            Self::Connector(id) => format!("c:{id}"),
            Self::Notification(id) => format!("n:{id}"),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    pub(crate) fn decode(s: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::InvalidCursor("is not a cursor this API issued".into());
        let text = URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
        let (kind, key) = text.split_once(':').ok_or_else(bad)?;
        match kind {
            "s" => Ok(Self::Station(StationCursor::Id(
                StationId::parse(key).map_err(|_| bad())?,
            ))),
            "d" => {
                let (mm, id) = key.split_once(':').ok_or_else(bad)?;
                Ok(Self::Station(StationCursor::Distance {
                    millimetres: mm.parse().map_err(|_| bad())?,
                    id: StationId::parse(id).map_err(|_| bad())?,
                }))
            }
            "c" => Ok(Self::Connector(ConnectorId::parse(key).map_err(|_| bad())?)),
            "n" if !key.is_empty() => Ok(Self::Notification(key.to_string())),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn cursors_round_trip() {
        for c in [
            Cursor::Station(StationCursor::Id(StationId::parse("S-1").unwrap())),
            Cursor::Station(StationCursor::Distance {
                millimetres: 1234,
                id: StationId::parse("S-2").unwrap(),
            }),
            Cursor::Connector(ConnectorId::parse("CP-1-1").unwrap()),
            Cursor::Notification("0193".into()),
        ] {
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "!!!", "eDp5", "czo", "ZDp4OlM"] {
            assert_eq!(
                Cursor::decode(bad).unwrap_err().code(),
                ErrorCode::InvalidCursor,
                "{bad}"
            );
        }
        assert_eq!(
            page_limit(Some("0"), 20, 100).unwrap_err().code(),
            ErrorCode::InvalidQuery
        );
        assert_eq!(
            page_limit(Some("101"), 20, 100).unwrap_err().code(),
            ErrorCode::InvalidQuery
        );
        assert_eq!(page_limit(None, 20, 100).unwrap(), 20);
    }
}
