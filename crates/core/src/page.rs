//! Keyset pagination shared by every list port: stable order by a key, an opaque cursor that
//! names the last key seen. Faces encode the cursor for their wire format.

/// What a caller asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1..=`MAX_LIMIT`.
    pub limit: u32,
    /// The key of the last item of the previous page.
    pub after: Option<String>,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 500;

    pub fn first(limit: u32) -> Self {
        Self {
            limit: limit.clamp(1, Self::MAX_LIMIT),
            after: None,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The key to pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}
