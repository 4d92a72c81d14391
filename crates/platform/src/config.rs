//! Layered configuration: defaults < `viscount.toml` < `VISCOUNT_*` environment variables.
//!
//! Every service reads one typed struct from one section of the merged document. Each
//! struct carries `#[serde(default)]`, so its `Default` impl is the bottom layer; the
//! TOML file overrides it, and environment variables override the file. A double
//! underscore in a variable name descends one table: `VISCOUNT_IDENTITY__ACCESS_TOKEN_TTL_SECS`
//! sets `access_token_ttl_secs` in `[identity]`.

use std::path::Path;

use serde::de::DeserializeOwned;

/// Prefix of every environment variable the platform reads.
pub const ENV_PREFIX: &str = "VISCOUNT_";

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file that failed.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid toml")]
    Parse {
        /// The file that failed.
        path: String,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
    /// A section does not fit its typed struct.
    #[error("invalid configuration in section `{section}`")]
    Invalid {
        /// The section (empty for the top level).
        section: String,
        /// The cause, naming the key.
        #[source]
        source: toml::de::Error,
    },
}

/// The merged configuration document, from which typed sections are read.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    table: toml::Table,
}

impl ConfigSource {
    /// Reads `path` (when it exists) and overlays the process's `VISCOUNT_*` variables.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut table = if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            text.parse::<toml::Table>()
                .map_err(|source| ConfigError::Parse {
                    path: path.display().to_string(),
                    source,
                })?
        } else {
            toml::Table::new()
        };
        overlay_env(&mut table, std::env::vars());
        Ok(Self { table })
    }

    /// A source from TOML text and explicit variables, without touching the process
    /// environment (for tests).
    pub fn from_parts(
        toml_text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml_text
            .parse::<toml::Table>()
            .map_err(|source| ConfigError::Parse {
                path: "<inline>".into(),
                source,
            })?;
        overlay_env(&mut table, vars);
        Ok(Self { table })
    }

    /// One section as it was merged (empty when absent), for layering more values over
    /// it (see [`crate::live`]).
    pub fn table(&self, name: &str) -> toml::Table {
        match self.table.get(name) {
            Some(toml::Value::Table(table)) => table.clone(),
            _ => toml::Table::new(),
        }
    }

    /// Reads one section (`""` for the top level) into its typed struct.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let value = if name.is_empty() {
            toml::Value::Table(self.table.clone())
        } else {
            self.table
                .get(name)
                .cloned()
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new()))
        };
        value.try_into().map_err(|source| ConfigError::Invalid {
            section: name.to_owned(),
            source,
        })
    }
}

/// Writes every `VISCOUNT_A__B=v` into `table[a][b]`. A value is read as a TOML value
/// when it parses as one (numbers, booleans, arrays) and as a string otherwise, so
/// `VISCOUNT_LISTEN=127.0.0.1:9000` stays a string while `..._TTL_SECS=60` is a number.
fn overlay_env(table: &mut toml::Table, vars: impl IntoIterator<Item = (String, String)>) {
    for (name, raw) in vars {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        let Some((last, parents)) = keys.split_last() else {
            continue;
        };
        set_path(table, parents, last, parse_env_value(&raw));
    }
}

/// Sets `table[parents..][last] = value`, creating tables on the way; a path through a
/// non-table value is ignored.
fn set_path(table: &mut toml::Table, parents: &[String], last: &str, value: toml::Value) {
    match parents.split_first() {
        None => {
            table.insert(last.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = table
                .entry(head.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(inner) = entry {
                set_path(inner, rest, last, value);
            }
        }
    }
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !matches!(v, toml::Value::Datetime(_)))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// A configured secret (password, signing key): read like a string, never printed.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_reads_as_a_string_and_never_prints() {
        #[derive(serde::Deserialize, Debug)]
        struct Section {
            key: Secret,
        }
        let config =
            ConfigSource::from_parts("[s]\nkey = \"hunter2-hunter2\"", []).expect("parses");
        let section: Section = config.section("s").expect("section");
        assert_eq!(section.key.expose(), "hunter2-hunter2");
        assert!(!format!("{section:?}").contains("hunter2"));
    }
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default)]
    struct Section {
        ttl_secs: u64,
        listen: String,
        enabled: bool,
    }

    impl Default for Section {
        fn default() -> Self {
            Self {
                ttl_secs: 900,
                listen: "127.0.0.1:1".into(),
                enabled: false,
            }
        }
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let source = ConfigSource::from_parts("", vars(&[])).expect("source");
        assert_eq!(
            source.section::<Section>("svc").expect("section"),
            Section::default()
        );
    }

    #[test]
    fn file_overrides_defaults_and_environment_overrides_file() {
        let source = ConfigSource::from_parts(
            "[svc]\nttl_secs = 60\nlisten = \"0.0.0.0:2\"\n",
            vars(&[
                ("VISCOUNT_SVC__LISTEN", "127.0.0.1:9000"),
                ("VISCOUNT_SVC__ENABLED", "true"),
                ("OTHER", "x"),
            ]),
        )
        .expect("source");
        let section: Section = source.section("svc").expect("section");
        assert_eq!(section.ttl_secs, 60);
        assert_eq!(section.listen, "127.0.0.1:9000");
        assert!(section.enabled);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key() {
        let source = ConfigSource::from_parts("", vars(&[("VISCOUNT_SVC__TTL_SECS", "soon")]))
            .expect("source");
        let err = source.section::<Section>("svc").expect_err("must fail");
        let chain = format!(
            "{err}: {}",
            std::error::Error::source(&err)
                .map(|s| s.to_string())
                .unwrap_or_default()
        );
        assert!(chain.contains("ttl_secs"), "{chain}");
    }
}
