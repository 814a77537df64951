//! A wrapper for API tokens that can never be printed by accident.
//!
//! `Secret` has no `Display`, and its `Debug` prints a placeholder, so a token cannot reach a
//! log line, an error message or a `{:?}` dump unless code calls [`Secret::expose`] on purpose.

use std::fmt;
use std::path::PathBuf;

use crate::config::ConfigError;

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

/// A clap value parser that wraps a token as soon as it is read, so not even a `Debug` print
/// of the parsed arguments can show it.
///
/// # Errors
/// Never.
pub fn parse(raw: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(raw))
}

/// The token of variable `var`, given directly (`value`) or in a file (`file`, the
/// `{var}_FILE` variable); `None` when neither is set.
///
/// # Errors
/// Both set, an unreadable file, an empty token, or one with whitespace inside: each named.
pub fn read(
    var: &str,
    value: Option<Secret>,
    file: Option<PathBuf>,
) -> Result<Option<Secret>, ConfigError> {
    let raw = match (value, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(format!(
                "both {var} and {var}_FILE are set; set only one"
            )))
        }
        (Some(v), None) => v.0,
        (None, Some(path)) => std::fs::read_to_string(&path).map_err(|e| {
            ConfigError(format!(
                "{var}_FILE={} cannot be read ({e}); point it at the file holding the token",
                path.display()
            ))
        })?,
        (None, None) => return Ok(None),
    };
    let token = raw.trim();
    if token.is_empty() {
        return Err(ConfigError(format!(
            "{var} is empty; set it (or {var}_FILE) to the API token"
        )));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError(format!(
            "{var} contains whitespace or control characters; set it to the bare API token"
        )));
    }
    Ok(Some(Secret::new(token)))
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
