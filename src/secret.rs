//! A wrapper for API tokens that can never be printed by accident.
//!
//! `Secret` has no `Display`, and its `Debug` prints a placeholder, so a token cannot reach a
//! log line, an error message or a `{:?}` dump unless code calls [`Secret::expose`] on purpose.

use std::fmt;

/// A secret string (an API token). Read it with [`Secret::expose`]; print it never.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"<redacted>\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("u+abcdef123456");
        let printed = format!("{s:?} {:#?}", Some(&s));
        assert!(!printed.contains("abcdef"), "{printed}");
        assert_eq!(s.expose(), "u+abcdef123456");
    }
}
