//! What an import reports when its input is wrong: one [`ImportError`] per problem, each naming
//! where it is (a JSON path or a CSV file and row), the field, and why. Every problem in a file is
//! collected before anything is returned, so an operator fixes a file in one pass.

use std::fmt;

/// One problem in an import file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    /// Where the problem is: a path into the JSON document (`stations[3].chargers[0]`), a CSV
    /// file and row as a spreadsheet numbers them (`connectors.csv row 7`, header = row 1), or
    /// `line 3, column 17` for JSON that does not parse.
    pub location: String,
    /// The field as the file spells it (`max_power_kw`, `station_id`); empty when the problem is
    /// the record or the file as a whole.
    pub field: String,
    /// What is wrong, in words an operator can act on.
    pub reason: String,
}

impl ImportError {
    pub fn new(
        location: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            location: location.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.location, self.reason)
        } else {
            write!(f, "{}: {}: {}", self.location, self.field, self.reason)
        }
    }
}

/// Every problem found in an import; never empty. Its `Display` lists them one per line, ready
/// for a terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportErrors(Vec<ImportError>);

impl ImportErrors {
    /// `None` when there is nothing to report.
    pub fn from_vec(errors: Vec<ImportError>) -> Option<Self> {
        (!errors.is_empty()).then_some(Self(errors))
    }

    /// Exactly one problem.
    pub fn single(error: ImportError) -> Self {
        Self(vec![error])
    }

    pub fn errors(&self) -> &[ImportError] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<ImportError> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; present because clippy expects it next to `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} {} in the import:",
            if n == 1 { "error" } else { "errors" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl IntoIterator for ImportErrors {
    type Item = ImportError;
    type IntoIter = std::vec::IntoIter<ImportError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ImportErrors {
    type Item = &'a ImportError;
    type IntoIter = std::slice::Iter<'a, ImportError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Collects problems while a file is read and validated.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<ImportError>);

impl Errors {
    pub(crate) fn push(&mut self, location: &str, field: &str, reason: impl Into<String>) {
        self.0.push(ImportError::new(location, field, reason));
    }

    pub(crate) fn add(&mut self, error: ImportError) {
        self.0.push(error);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `Err` with everything collected, if anything was.
    pub(crate) fn into_result(self) -> Result<(), ImportErrors> {
        match ImportErrors::from_vec(self.0) {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }
}
