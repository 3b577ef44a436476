//! Posted forms (`application/x-www-form-urlencoded`), kept as the ordered list of fields the
//! browser sent: repeated names (the rows of a tariff's segments) keep their order, and each
//! handler converts fields to domain types itself, reporting errors per field.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use crate::error::ConsoleError;

/// The fields of a posted form.
#[derive(Debug, Default)]
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    /// The first value of `name`, or `""`.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ConsoleError> {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
        Ok(Self(pairs))
    }
}

/// Messages for the fields of a form, by field name (`form` for the form as a whole).
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldErrors(HashMap<String, String>);

impl FieldErrors {
    /// Records the first error of `field`; later ones for the same field are dropped.
    pub(crate) fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_insert_with(|| message.into());
    }

    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub(crate) fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub(crate) fn any(&self) -> bool {
        !self.0.is_empty()
    }

    /// The status of a page that shows these errors: 422 when there are any, so a refused
    /// form or filter is never taken for a success, else 200.
    pub(crate) fn status(&self) -> StatusCode {
        if self.any() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_fields_keep_their_order() {
        let f = FormData::from_pairs(&[("start", "00:00"), ("x", "1"), ("start", "08:00")]);
        assert_eq!(f.all("start"), ["00:00", "08:00"]);
        assert_eq!(f.get("x"), "1");
        assert_eq!(f.get("missing"), "");
    }

    #[test]
    fn the_first_error_of_a_field_wins() {
        let mut e = FieldErrors::default();
        e.add("name", "first");
        e.add("name", "second");
        assert_eq!(e.get("name"), Some("first"));
        assert!(e.any() && e.has("name") && !e.has("other"));
    }
}
