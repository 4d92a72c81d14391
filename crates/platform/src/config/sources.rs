//! The layers of the configuration as figment providers: `viscount.toml` (or inline
//! TOML text) and each `VISCOUNT_*` variable.
//!
//! figment merges them and tags every value with the provider that set it, which is
//! what lets an error or an unknown key name the file or the variable. The providers
//! are the platform's own rather than figment's `Toml` and `Env`: `Toml` is built on a
//! second TOML parser (toml 0.8, beside the workspace's 0.9); `Env` reads only the
//! process environment, while tests hand their variables over explicitly
//! ([`super::ConfigSource::from_parts`]) and must read them exactly as a process does;
//! and `Env` types values by figment's own grammar (`007` becomes 7, spaces are
//! trimmed), where a variable here holds a TOML value or else the string as written.

use std::path::Path;

use figment::providers::{Data, Format};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider, Source};
use serde::de::DeserializeOwned;

use super::ENV_PREFIX;

/// The metadata name of a [`Variable`]; its source is the variable's name.
pub(super) const VARIABLE: &str = "environment variable";

/// TOML as figment's file format, parsed by the workspace's toml.
struct TomlFormat;

impl Format for TomlFormat {
    type Error = toml::de::Error;

    const NAME: &'static str = "TOML";

    fn from_str<T: DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        toml::from_str(string)
    }
}

/// `viscount.toml`, or TOML text given inline.
pub(super) struct File(Data<TomlFormat>);

impl File {
    /// The file at `path`, which must exist (a missing file is no layer at all).
    pub(super) fn at(path: &Path) -> Self {
        Self(TomlFormat::file_exact(path))
    }

    /// TOML text (for tests).
    pub(super) fn text(text: &str) -> Self {
        Self(TomlFormat::string(text))
    }
}

impl Provider for File {
    fn metadata(&self) -> Metadata {
        self.0.metadata().interpolater(key_path)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.0.data()
    }
}

/// One `VISCOUNT_A__B=v` variable: the value `v` at key path `a.b` (each `__` descends
/// one table, names lowercased). `v` is read as a TOML value when it is one (numbers,
/// booleans, arrays, inline tables) and as the string written otherwise, so
/// `VISCOUNT_LISTEN=127.0.0.1:9000` stays a string while `..._TTL_SECS=60` is a number;
/// a date stays a string too (no configuration key is a TOML date). Every variable
/// lands in the document, flags' too (`VISCOUNT_DATABASE_URL` is `database_url` at the
/// top level): the unknown-key report is what tells them apart.
pub(super) struct Variable {
    name: String,
    path: Vec<String>,
    raw: String,
}

impl Variable {
    /// The variable `name=raw`, when `name` has the platform's prefix.
    pub(super) fn parse(name: String, raw: String) -> Option<Self> {
        let path = name
            .strip_prefix(ENV_PREFIX)?
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        Some(Self { name, path, raw })
    }

    fn value(&self) -> Value {
        format!("v = {}", self.raw)
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut table| table.remove("v"))
            .filter(|value| !value.is_datetime())
            // Every TOML value converts; the string written is the fallback anyway.
            .and_then(|value| Value::serialize(value).ok())
            .unwrap_or_else(|| Value::from(self.raw.clone()))
    }
}

impl Provider for Variable {
    fn metadata(&self) -> Metadata {
        Metadata::from(VARIABLE, Source::Custom(self.name.clone())).interpolater(key_path)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        // Built by hand rather than with `figment::util::nest`, which splits on `.` and
        // stops at an empty segment: a mistyped `VISCOUNT_A____B` must still arrive (as
        // `a..b`) to be reported.
        let mut value = self.value();
        for key in self.path.iter().rev() {
            value = Value::from(Dict::from([(key.clone(), value)]));
        }
        Ok(Profile::Default.collect(value.into_dict().unwrap_or_default()))
    }
}

/// A key path as it is written in the file (`gateway.listen`): figment's default puts
/// the profile first (`default.gateway.listen`), and this configuration has none.
fn key_path(_profile: &Profile, keys: &[&str]) -> String {
    keys.join(".")
}
