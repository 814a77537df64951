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
        (None, Some(path)) => read_file(var, &path)?,
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

/// Most bytes a token file may hold: a token is a few dozen bytes, and a file much bigger
/// is not a token file (a wrong path, a log).
pub const MAX_FILE: u64 = 64 << 10;

/// The text of token file `path` (variable `{var}_FILE`): a regular file, or a symlink to one
/// (as Docker and Kubernetes mount secrets), of at most [`MAX_FILE`] bytes. A FIFO, a device
/// or a directory is refused before it is opened (opening a FIFO nobody writes would wait for
/// ever), and it is opened non-blocking in case it changed in between.
fn read_file(var: &str, path: &std::path::Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let shown = path.display();
    let unreadable = |e: std::io::Error| {
        ConfigError(format!(
            "{var}_FILE={shown} cannot be read ({e}); point it at the file holding the token"
        ))
    };
    let not_regular = || {
        ConfigError(format!(
            "{var}_FILE={shown} is not a regular file (a FIFO, device or directory); point it at the file holding the token"
        ))
    };
    let too_big = || {
        ConfigError(format!(
            "{var}_FILE={shown} is larger than {} KiB, which no token is; point it at the file holding the token",
            MAX_FILE >> 10
        ))
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > MAX_FILE {
        return Err(too_big());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(unreadable)?;
    if !file.metadata().map_err(unreadable)?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| {
        ConfigError(format!(
            "{var}_FILE={shown} is not UTF-8 text; point it at the file holding the token"
        ))
    })
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

    #[test]
    fn token_files_must_be_small_regular_files() {
        let dir = std::env::temp_dir().join(format!("ptsd-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("token");
        std::fs::write(&good, "u+abc\n").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&good, &link).unwrap();
        let got = read("PDTOKEN", None, Some(link)).unwrap().unwrap();
        assert_eq!(got.expose(), "u+abc");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'a'; (MAX_FILE + 1) as usize]).unwrap();
        let e = read("PDTOKEN", None, Some(big)).unwrap_err().0;
        assert!(e.contains("larger than 64 KiB"), "{e}");
        let e = read("PDTOKEN", None, Some(dir.clone())).unwrap_err().0;
        assert!(e.contains("not a regular file"), "{e}");
        let e = read("PDTOKEN", None, Some("/dev/zero".into()))
            .unwrap_err()
            .0;
        assert!(e.contains("not a regular file"), "{e}");
    }
}
