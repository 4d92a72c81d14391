//! Layered configuration: defaults < `viscount.toml` < `VISCOUNT_*` environment variables.
//!
//! Every service reads one typed struct from one section of the merged document. Each
//! struct carries `#[serde(default)]`, so its `Default` impl is the bottom layer; the
//! TOML file overrides it, and environment variables override the file. A double
//! underscore in a variable name descends one table: `VISCOUNT_IDENTITY__ACCESS_TOKEN_TTL_SECS`
//! sets `access_token_ttl_secs` in `[identity]`.
//!
//! figment merges the layers, not code of our own (`sources.rs` says how the file and
//! the variables become layers). It keeps which layer set each value, so a value that
//! does not fit its struct is reported with its key and the file or variable it came
//! from, and an unknown key with the variable that set it.
//!
//! Because every field has a default, a mistyped key (`anonymous_per_minut`) would be
//! silently ignored. So every read of a section also notes which keys its struct did
//! not consume (with `serde_ignored`) and which keys the struct knows at each level;
//! [`ConfigSource::unknown_keys`] then names the keys no reader of their section
//! consumed, with the nearest known key. A process reads only some sections (`viscount
//! serve catalog` never reads `[gateway]`), so a key is judged only when its section
//! was read in this process, or when its top-level section is one nothing knows (see
//! [`SECTIONS`]).
//!
//! Configured secrets (passwords, shared tokens) are typed [`Secret`], `secrecy`'s
//! string: `Debug` prints `[REDACTED]`, so a settings struct can be logged whole, the
//! value is wiped from memory when dropped, and using it takes an explicit
//! [`ExposeSecret::expose_secret`] that a review can find.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::{Figment, Provider as _};
use serde::de::DeserializeOwned;

mod probe;
mod sources;
use probe::{Probe, nearest, segments, variable_name};
use sources::{File, VARIABLE, Variable};

pub use secrecy::ExposeSecret;

/// A configured secret (password, signing key, shared token): read like a string,
/// printed by `Debug` as `[REDACTED]`, wiped on drop; [`ExposeSecret::expose_secret`]
/// reads it.
pub type Secret = secrecy::SecretString;

/// Prefix of every environment variable the platform reads.
pub const ENV_PREFIX: &str = "VISCOUNT_";

/// Top-level sections besides the services' own (`[gateway]`, `[identity]`, … named by
/// [`crate::service::ServiceKind`]): a process that does not read one still knows it
/// is a section, not a mistake.
pub const SECTIONS: &[&str] = &["discovery", "retention"];

/// `VISCOUNT_*` variables the binary reads as flags, outside any section (lowercased,
/// without the prefix): they land at the top level of the document like every other
/// variable, but no section reader is meant to consume them. Variables starting with
/// `VISCOUNT_TEST_` (the test suites') are not configuration either.
pub const FLAG_VARIABLES: &[&str] = &[
    "log",
    "database_url",
    "postgres_url",
    "nats_url",
    "nats_namespace",
    "nats_replicas",
    "redis_url",
    "advertise_url",
    "coordination_url",
];

/// Why configuration could not be loaded. figment's errors are boxed: they carry the
/// layer's metadata and key path, and would make every result holding one large.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read, or is not valid TOML.
    #[error("cannot load config file {path}")]
    File {
        /// The file that failed.
        path: String,
        /// The cause, with the line for a TOML error.
        #[source]
        source: Box<figment::Error>,
    },
    /// A section does not fit its typed struct.
    #[error("invalid configuration in section `{section}`")]
    Invalid {
        /// The section (empty for the top level).
        section: String,
        /// The cause, naming the key and the file or variable that set it.
        #[source]
        source: Box<figment::Error>,
    },
}

impl ConfigError {
    /// Section `section` reads, but breaks a rule of its own (`reason`), for readers
    /// that check more than the types.
    pub fn invalid(section: &str, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            section: section.to_owned(),
            source: Box::new(figment::Error::from(reason.to_string())),
        }
    }
}

/// The merged configuration document, from which typed sections are read. Clones share
/// the record of what was read, so keys read through any clone count.
#[derive(Clone, Default)]
pub struct ConfigSource {
    /// The layers, merged; each value tagged with the layer that set it.
    figment: Figment,
    reads: Arc<Mutex<Reads>>,
}

/// Names the layers, never their values: the document holds the configured secrets as
/// plain strings until a section types them.
impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layers: Vec<String> = self
            .figment
            .metadata()
            .map(|layer| match &layer.source {
                Some(source) => format!("{} {source}", layer.name),
                None => layer.name.to_string(),
            })
            .collect();
        f.debug_struct("ConfigSource")
            .field("layers", &layers)
            .finish_non_exhaustive()
    }
}

/// What the readers of each section (by name; `""` for the top level) consumed.
#[derive(Debug, Default)]
struct Reads {
    sections: BTreeMap<String, SectionReads>,
}

#[derive(Debug, Default)]
struct SectionReads {
    /// The key paths (below the section) that every reader so far left unconsumed;
    /// `None` before the first read.
    ignored: Option<BTreeSet<Vec<String>>>,
    /// The keys the readers' structs know, by the path of the table holding them.
    known: BTreeMap<Vec<String>, BTreeSet<&'static str>>,
}

/// A configuration key no reader consumed: most likely a typing mistake, since every
/// setting has a default and the key is otherwise ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// The key's full path, e.g. `gateway.rate_limits.anonymous_per_minut`.
    pub key: String,
    /// The environment variable that set it; `None` when it is from the file.
    pub variable: Option<String>,
    /// The nearest key the readers know at the same place, when one is close.
    pub nearest: Option<String>,
    /// The variable that would set [`UnknownKey::nearest`], for a key set by one.
    pub nearest_variable: Option<String>,
}

impl std::fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown configuration key `{}`", self.key)?;
        if let Some(variable) = &self.variable {
            write!(f, " (set by {variable})")?;
        }
        match (&self.nearest_variable, &self.nearest) {
            (Some(variable), _) => write!(f, "; did you mean {variable}?"),
            (None, Some(nearest)) => write!(f, "; did you mean `{nearest}`?"),
            (None, None) => Ok(()),
        }
    }
}

impl ConfigSource {
    /// Reads `path` (when it exists) and overlays the process's `VISCOUNT_*` variables.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        // A variable whose name or value is not Unicode cannot be one of ours.
        let vars = std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        });
        // A missing file is no layer: the defaults and the variables still are.
        let file = path.exists().then(|| File::at(path));
        Self::layered(file, &path.display().to_string(), vars)
    }

    /// A source from TOML text and explicit variables, without touching the process
    /// environment (for tests).
    pub fn from_parts(
        toml_text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::layered(Some(File::text(toml_text)), "<inline>", vars)
    }

    /// The file (named `path` in errors) with the `VISCOUNT_*` variables among `vars`
    /// over it.
    fn layered(
        file: Option<File>,
        path: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(file);
            // figment holds a layer's failure until the first read; the file's is
            // reported here, at start, naming the file.
            figment.data().map_err(|source| ConfigError::File {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        }
        for variable in vars
            .into_iter()
            .filter_map(|(name, raw)| Variable::parse(name, raw))
        {
            figment = figment.merge(variable);
        }
        Ok(Self {
            figment,
            reads: Arc::default(),
        })
    }

    /// Sets `section.key` to `value` unless the file or the environment set it: a
    /// default that depends on how the process was started (the gateway's address as
    /// the tokens' issuer).
    pub fn with_default(mut self, section: &str, key: &str, value: toml::Value) -> Self {
        self.figment = self
            .figment
            .join(Serialized::default(&format!("{section}.{key}"), value));
        self
    }

    /// One section as it was merged (empty when absent), for layering more values over
    /// it (see [`crate::live`]).
    pub fn table(&self, name: &str) -> toml::Table {
        // Every value came from TOML (the file, variables read as TOML values, defaults
        // given as TOML values), so the section converts back.
        self.figment.focus(name).extract().unwrap_or_default()
    }

    /// Reads one section (`""` for the top level) into its typed struct, noting which
    /// of its keys the struct consumed (see [`ConfigSource::unknown_keys`]).
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let typed = if name.is_empty() {
            self.figment.extract()
        } else if let Ok(value) = self.figment.find_value(name)
            && value.as_dict().is_none()
        {
            // A section that is not a table fails as one (`focus` would see nothing).
            self.figment.extract_inner(name)
        } else {
            // The section as a figment of its own (empty when absent: every setting at
            // its default), which keeps each value's layer for errors. Their key paths
            // start below the section: prefixed with it, they read `section.key` (not
            // `extract_inner`, which appends the section instead).
            self.figment.focus(name).extract().map_err(|mut error| {
                error.path.insert(0, name.to_owned());
                error
            })
        }
        .map_err(|source| ConfigError::Invalid {
            section: name.to_owned(),
            source: Box::new(source),
        })?;
        self.note::<T>(name);
        Ok(typed)
    }

    /// Notes that section `name` is read as a `T` by a reader that deserializes it by
    /// other means (from [`ConfigSource::table`], with more values laid over it), so
    /// its keys are judged as if read through [`ConfigSource::section`].
    pub fn note_read<T: DeserializeOwned>(&self, name: &str) {
        self.note::<T>(name);
    }

    /// Section `name` as merged (`""`: the whole document), each value still tagged
    /// with its layer; an empty table when absent.
    fn value_of(&self, name: &str) -> Value {
        self.figment
            .find_value(name)
            .unwrap_or_else(|_| Value::from(Dict::new()))
    }

    /// Deserializes section `name` as a `T` once more, through [`Probe`] and
    /// `serde_ignored`, and records what it ignored and which fields it knows.
    fn note<T: DeserializeOwned>(&self, name: &str) {
        let value = self.value_of(name);
        let known = RefCell::new(BTreeMap::new());
        let mut ignored = BTreeSet::new();
        let probe = Probe {
            value: &value,
            path: Vec::new(),
            known: &known,
        };
        // The real read succeeded on the same value; should the probe fail part way
        // (a reader with unusual serde attributes), fewer keys are noted as ignored,
        // never more.
        let _probed: Result<T, _> = serde_ignored::deserialize(probe, |path| {
            ignored.insert(segments(&path));
        });
        let mut reads = self
            .reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let section = reads.sections.entry(name.to_owned()).or_default();
        section.ignored = Some(match section.ignored.take() {
            None => ignored,
            Some(before) => before.intersection(&ignored).cloned().collect(),
        });
        for (path, fields) in known.into_inner() {
            section.known.entry(path).or_default().extend(fields);
        }
    }

    /// The keys that no reader consumed, in order: within each section read in this
    /// process, the keys no reader of it consumed; at the top level, keys that are
    /// neither a section nor consumed by a reader of the top level (when one read it;
    /// otherwise only tables, which can only be sections). The binary's flag
    /// variables ([`FLAG_VARIABLES`], `VISCOUNT_TEST_*`) are never reported.
    pub fn unknown_keys(&self) -> Vec<UnknownKey> {
        let document = self.value_of("");
        let reads = self
            .reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut sections: BTreeSet<&str> = SECTIONS.iter().copied().collect();
        sections.extend(
            crate::service::ServiceKind::all()
                .iter()
                .map(|k| k.as_str()),
        );
        sections.extend(
            reads
                .sections
                .keys()
                .map(String::as_str)
                .filter(|name| !name.is_empty()),
        );
        let root = reads.sections.get("");
        let root_known = |parent: &[String]| -> BTreeSet<&str> {
            let mut known: BTreeSet<&str> = root
                .and_then(|root| root.known.get(parent))
                .map(|fields| fields.iter().copied().collect())
                .unwrap_or_default();
            if parent.is_empty() {
                known.extend(sections.iter().copied());
            }
            known
        };

        let mut unknown = Vec::new();
        let unread_top_level: Vec<Vec<String>> = match root.and_then(|r| r.ignored.as_ref()) {
            Some(ignored) => ignored.iter().cloned().collect(),
            // Nothing read the top level: a table there can only be a section.
            None => document
                .as_dict()
                .into_iter()
                .flatten()
                .filter(|(_, value)| value.as_dict().is_some())
                .map(|(key, _)| vec![key.clone()])
                .collect(),
        };
        for path in unread_top_level {
            let Some(first) = path.first() else {
                continue;
            };
            // A section's keys are judged by its own readers, if it has any here.
            if sections.contains(first.as_str()) || self.is_flag_variable(&document, &path) {
                continue;
            }
            let known = root_known(&path[..path.len() - 1]);
            unknown.push(self.unknown_key(&document, path, &known, &sections));
        }
        for (name, section) in &reads.sections {
            if name.is_empty() {
                continue;
            }
            for path in section.ignored.iter().flatten() {
                let parent = &path[..path.len().saturating_sub(1)];
                let known = section.known.get(parent).cloned().unwrap_or_default();
                let mut full = vec![name.clone()];
                full.extend(path.iter().cloned());
                unknown.push(self.unknown_key(&document, full, &known, &sections));
            }
        }
        unknown.sort_by(|a, b| a.key.cmp(&b.key));
        unknown
    }

    /// Logs a warning for each of [`ConfigSource::unknown_keys`] and answers them. Call
    /// it once the process has read every section it will (after start).
    pub fn report_unknown_keys(&self) -> Vec<UnknownKey> {
        let unknown = self.unknown_keys();
        for key in &unknown {
            tracing::warn!(
                key = %key.key,
                variable = key.variable.as_deref(),
                nearest = key.nearest.as_deref(),
                nearest_variable = key.nearest_variable.as_deref(),
                "unknown configuration key ignored (mistyped?)"
            );
        }
        unknown
    }

    /// Whether `path` is a top-level key set by one of the binary's flag variables (or
    /// a test suite's).
    fn is_flag_variable(&self, document: &Value, path: &[String]) -> bool {
        let [key] = path else {
            return false;
        };
        (FLAG_VARIABLES.contains(&key.as_str()) || key.starts_with("test_"))
            && lookup(document, path)
                .and_then(|value| self.set_by(value))
                .is_some()
    }

    /// The variable that set `value`, when a variable did (the file or code otherwise).
    /// A table carries the layer that last wrote into it.
    fn set_by(&self, value: &Value) -> Option<&str> {
        let layer = self.figment.get_metadata(value.tag())?;
        if layer.name != VARIABLE {
            return None;
        }
        layer.source.as_ref()?.custom()
    }

    /// The first value at or under `path` (`value` is there) that a variable set: the
    /// key path it set, and the variable.
    fn variable_within(&self, value: &Value, path: Vec<String>) -> Option<(Vec<String>, String)> {
        match value {
            Value::Dict(_, entries) if !entries.is_empty() => {
                entries.iter().find_map(|(key, inner)| {
                    let mut inner_path = path.clone();
                    inner_path.push(key.clone());
                    self.variable_within(inner, inner_path)
                })
            }
            leaf => self.set_by(leaf).map(|name| (path, name.to_owned())),
        }
    }

    /// The report of the unknown key at `path` (full): the variable that set it, and
    /// its nearest sibling among `candidates` (the keys known beside it) or, for a
    /// top-level key, a section it starts with.
    fn unknown_key(
        &self,
        document: &Value,
        path: Vec<String>,
        candidates: &BTreeSet<&str>,
        sections: &BTreeSet<&str>,
    ) -> UnknownKey {
        let variable =
            lookup(document, &path).and_then(|value| self.variable_within(value, path.clone()));
        let last = path.last().map(String::as_str).unwrap_or_default();
        let nearest_segments = nearest(last, candidates)
            .map(|near| vec![near.to_owned()])
            .or_else(|| {
                // `VISCOUNT_GATEWAY_RATE_LIMITS__…`: one `_` where `__` descends a table.
                (path.len() == 1)
                    .then(|| {
                        sections.iter().find_map(|section| {
                            last.strip_prefix(section)
                                .and_then(|rest| rest.strip_prefix('_'))
                                .filter(|rest| !rest.is_empty())
                                .map(|rest| vec![(*section).to_owned(), rest.to_owned()])
                        })
                    })
                    .flatten()
            });
        let nearest_path = nearest_segments.map(|segments| {
            let mut full = path[..path.len() - 1].to_vec();
            full.extend(segments);
            full
        });
        let nearest_variable = match (&variable, &nearest_path) {
            (Some((set, _)), Some(near)) => {
                let mut segments = near.clone();
                segments.extend(set[path.len()..].iter().cloned());
                Some(variable_name(&segments))
            }
            _ => None,
        };
        UnknownKey {
            key: path.join("."),
            variable: variable.map(|(_, name)| name),
            nearest: nearest_path.map(|near| near.join(".")),
            nearest_variable,
        }
    }
}

/// The value at `path` in `value`, through tables only.
fn lookup<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |value, key| value.as_dict()?.get(key))
}

/// `url` with its password (the userinfo after `:`) masked, for messages and logs:
/// `postgres://app:***@db:5432/shop`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_redacted_to_its_user() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/shop?sslmode=require"),
            "postgres://app:***@db:5432/shop?sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:pw@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        assert_eq!(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(
            redact_url("postgres://app@db/shop"),
            "postgres://app@db/shop"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn a_secret_reads_as_a_string_and_prints_redacted() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(default)]
        struct Section {
            user: String,
            password: Secret,
            token: Option<Secret>,
        }
        impl Default for Section {
            fn default() -> Self {
                Self {
                    user: String::new(),
                    password: Secret::from("dev-password"),
                    token: None,
                }
            }
        }
        let config = ConfigSource::from_parts(
            "[s]\nuser = \"app\"\npassword = \"hunter2-hunter2\"\n",
            vars(&[("VISCOUNT_S__TOKEN", "tok-from-env")]),
        )
        .expect("parses");
        let section: Section = config.section("s").expect("section");
        assert_eq!(section.password.expose_secret(), "hunter2-hunter2");
        assert_eq!(
            section.token.as_ref().map(|token| token.expose_secret()),
            Some("tok-from-env")
        );
        let printed = format!("{section:?}");
        assert!(printed.contains("\"app\""), "{printed}");
        assert_eq!(printed.matches("[REDACTED]").count(), 2, "{printed}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("tok-from"),
            "{printed}"
        );
        // Nor does the source the section was read from print them.
        let source = format!("{config:?}");
        assert!(source.contains("VISCOUNT_S__TOKEN"), "{source}");
        assert!(
            !source.contains("hunter2") && !source.contains("tok-from"),
            "{source}"
        );
    }
    use std::collections::HashMap;

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

    /// The error's whole chain, as the binary prints it.
    fn chain(err: &ConfigError) -> String {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    #[test]
    fn variables_hold_toml_values_or_else_the_string_written() {
        #[derive(Debug, Deserialize, Default)]
        #[serde(default)]
        struct Typed {
            count: u32,
            ratio: f64,
            on: bool,
            ports: Vec<u16>,
            limits: HashMap<String, u32>,
            listen: String,
            zip: String,
            padded: String,
            day: String,
            quoted: String,
        }
        let source = ConfigSource::from_parts(
            "",
            vars(&[
                ("VISCOUNT_T__COUNT", "60"),
                ("VISCOUNT_T__RATIO", "0.5"),
                ("VISCOUNT_T__ON", "true"),
                ("VISCOUNT_T__PORTS", "[80, 443]"),
                ("VISCOUNT_T__LIMITS", "{ search = 3 }"),
                ("VISCOUNT_T__LISTEN", "127.0.0.1:9000"),
                ("VISCOUNT_T__ZIP", "007"),
                ("VISCOUNT_T__PADDED", " two spaces "),
                ("VISCOUNT_T__DAY", "2024-01-31"),
                ("VISCOUNT_T__QUOTED", "\"42\""),
            ]),
        )
        .expect("source");
        let typed: Typed = source.section("t").expect("section");
        assert_eq!((typed.count, typed.ratio, typed.on), (60, 0.5, true));
        assert_eq!(typed.ports, vec![80, 443]);
        assert_eq!(typed.limits.get("search"), Some(&3));
        assert_eq!(typed.listen, "127.0.0.1:9000");
        // Not TOML values: kept as written (no leading zeros dropped, no trimming).
        assert_eq!(typed.zip, "007");
        assert_eq!(typed.padded, " two spaces ");
        assert_eq!(typed.day, "2024-01-31");
        assert_eq!(typed.quoted, "42");
        assert_eq!(keys_of(&source), Vec::<String>::new());
    }

    fn keys_of(source: &ConfigSource) -> Vec<String> {
        source.unknown_keys().into_iter().map(|k| k.key).collect()
    }

    #[test]
    fn a_file_that_is_not_toml_is_named_with_its_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("viscount.toml");
        std::fs::write(&path, "[gateway]\nlisten = \"127.0.0.1:1\"\nbroken = \n").expect("write");
        let err = ConfigSource::load(&path).expect_err("must fail");
        assert!(matches!(err, ConfigError::File { .. }), "{err:?}");
        let chain = chain(&err);
        assert!(chain.contains(&path.display().to_string()), "{chain}");
        assert!(chain.contains("line 3"), "{chain}");
    }

    #[test]
    fn a_missing_file_leaves_the_defaults_and_a_present_one_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = ConfigSource::load(&dir.path().join("absent.toml")).expect("no file is fine");
        assert_eq!(
            missing.section::<Section>("svc").expect("section"),
            Section::default()
        );
        let path = dir.path().join("viscount.toml");
        std::fs::write(&path, "[svc]\nttl_secs = 61\n").expect("write");
        let present = ConfigSource::load(&path).expect("reads");
        assert_eq!(
            present.section::<Section>("svc").expect("section").ttl_secs,
            61
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_in_the_file_names_the_key_and_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("viscount.toml");
        std::fs::write(&path, "[svc]\nenabled = \"yes\"\n").expect("write");
        let source = ConfigSource::load(&path).expect("reads");
        let err = source.section::<Section>("svc").expect_err("must fail");
        let chain = chain(&err);
        assert!(
            chain.starts_with("invalid configuration in section `svc`"),
            "{chain}"
        );
        assert!(chain.contains("\"svc.enabled\""), "{chain}");
        assert!(chain.contains(&path.display().to_string()), "{chain}");
    }

    #[test]
    fn a_default_given_by_code_yields_to_the_file_and_the_variables() {
        let issuer = |toml: &str, pairs: &[(&str, &str)]| {
            let source = ConfigSource::from_parts(toml, vars(pairs))
                .expect("source")
                .with_default(
                    "identity",
                    "issuer",
                    toml::Value::String("http://code".into()),
                );
            let table = source.table("identity");
            table
                .get("issuer")
                .and_then(|v| v.as_str().map(str::to_owned))
        };
        assert_eq!(issuer("", &[]).as_deref(), Some("http://code"));
        assert_eq!(
            issuer("[identity]\nissuer = \"http://file\"\n", &[]).as_deref(),
            Some("http://file")
        );
        assert_eq!(
            issuer("", &[("VISCOUNT_IDENTITY__ISSUER", "http://env")]).as_deref(),
            Some("http://env")
        );
    }

    #[test]
    fn a_section_that_is_not_a_table_fails_to_read() {
        let source = ConfigSource::from_parts("svc = 5\n", vars(&[])).expect("source");
        let err = source.section::<Section>("svc").expect_err("must fail");
        let chain = chain(&err);
        assert!(
            chain.starts_with("invalid configuration in section `svc`"),
            "{chain}"
        );
        assert!(chain.contains("found signed int `5`"), "{chain}");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key() {
        let source = ConfigSource::from_parts("", vars(&[("VISCOUNT_SVC__TTL_SECS", "soon")]))
            .expect("source");
        let err = source.section::<Section>("svc").expect_err("must fail");
        let chain = chain(&err);
        assert!(chain.contains("\"svc.ttl_secs\""), "{chain}");
        assert!(chain.contains("VISCOUNT_SVC__TTL_SECS"), "{chain}");
    }

    mod unknown_keys {
        //! Mistyped keys: reported when their section was read and no reader consumed
        //! them, or when their top-level section is one nothing knows.

        use std::collections::HashMap;

        use super::*;

        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct Gateway {
            listen: String,
            rate_limits: RateLimits,
            tls: Option<Tls>,
            routes: Vec<Route>,
            limits: HashMap<String, Limit>,
        }

        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct RateLimits {
            anonymous_per_minute: u32,
            user_per_minute: u32,
        }

        #[derive(Debug, Deserialize)]
        struct Tls {
            cert: String,
        }

        #[derive(Debug, Deserialize)]
        struct Route {
            path: String,
        }

        #[derive(Debug, Deserialize)]
        struct Limit {
            burst: u32,
        }

        #[derive(Debug, Default, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Format {
            #[default]
            Json,
            Pretty,
        }

        /// Shaped like the binary's top-level settings.
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct Settings {
            data_dir: String,
            log_format: Format,
            redis_url: Option<String>,
        }

        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        struct Catalog {
            page_size: u32,
        }

        fn source(toml: &str, pairs: &[(&str, &str)]) -> ConfigSource {
            ConfigSource::from_parts(toml, vars(pairs)).expect("source")
        }

        fn keys(source: &ConfigSource) -> Vec<String> {
            source.unknown_keys().into_iter().map(|k| k.key).collect()
        }

        #[test]
        fn a_mistyped_key_of_a_read_section_is_named_with_the_nearest_known_key() {
            let source = source(
                "[gateway]\nlisten = \"127.0.0.1:1\"\n\
                 [gateway.rate_limits]\nanonymous_per_minut = 5\nuser_per_minute = 9\n",
                &[],
            );
            let gateway: Gateway = source.section("gateway").expect("section");
            assert_eq!(gateway.rate_limits.user_per_minute, 9);
            assert_eq!(
                source.unknown_keys(),
                vec![UnknownKey {
                    key: "gateway.rate_limits.anonymous_per_minut".into(),
                    variable: None,
                    nearest: Some("gateway.rate_limits.anonymous_per_minute".into()),
                    nearest_variable: None,
                }]
            );
            assert_eq!(
                source.report_unknown_keys()[0].to_string(),
                "unknown configuration key `gateway.rate_limits.anonymous_per_minut`; \
                 did you mean `gateway.rate_limits.anonymous_per_minute`?"
            );
        }

        #[test]
        fn a_mistyped_variable_is_named_with_the_variable_meant() {
            let source = source(
                "",
                &[("VISCOUNT_GATEWAY__RATE_LIMITS__ANONYMOUS_PER_MINUT", "5")],
            );
            let _: Gateway = source.section("gateway").expect("section");
            let unknown = source.unknown_keys();
            assert_eq!(unknown.len(), 1, "{unknown:?}");
            assert_eq!(unknown[0].key, "gateway.rate_limits.anonymous_per_minut");
            assert_eq!(
                unknown[0].variable.as_deref(),
                Some("VISCOUNT_GATEWAY__RATE_LIMITS__ANONYMOUS_PER_MINUT")
            );
            assert_eq!(
                unknown[0].nearest_variable.as_deref(),
                Some("VISCOUNT_GATEWAY__RATE_LIMITS__ANONYMOUS_PER_MINUTE")
            );
            assert!(
                unknown[0]
                    .to_string()
                    .ends_with("did you mean VISCOUNT_GATEWAY__RATE_LIMITS__ANONYMOUS_PER_MINUTE?")
            );
        }

        #[test]
        fn one_underscore_where_two_descend_a_table_suggests_the_section() {
            let source = source(
                "",
                &[("VISCOUNT_GATEWAY_RATE_LIMITS__ANONYMOUS_PER_MINUTE", "5")],
            );
            let _: Settings = source.section("").expect("top level");
            let unknown = source.unknown_keys();
            assert_eq!(unknown.len(), 1, "{unknown:?}");
            assert_eq!(unknown[0].key, "gateway_rate_limits");
            assert_eq!(unknown[0].nearest.as_deref(), Some("gateway.rate_limits"));
            assert_eq!(
                unknown[0].nearest_variable.as_deref(),
                Some("VISCOUNT_GATEWAY__RATE_LIMITS__ANONYMOUS_PER_MINUTE")
            );
        }

        #[test]
        fn keys_inside_options_arrays_and_maps_are_judged_too() {
            let source = source(
                "[gateway.tls]\ncert = \"a\"\ncertt = \"b\"\n\
                 [[gateway.routes]]\npath = \"/\"\npaht = \"/x\"\n\
                 [gateway.limits.search]\nburst = 1\nbursts = 2\n",
                &[],
            );
            let gateway: Gateway = source.section("gateway").expect("section");
            assert_eq!(gateway.tls.map(|tls| tls.cert), Some("a".to_owned()));
            assert_eq!(gateway.routes[0].path, "/");
            assert_eq!(gateway.limits["search"].burst, 1);
            let unknown = source.unknown_keys();
            let pairs: Vec<(&str, Option<&str>)> = unknown
                .iter()
                .map(|k| (k.key.as_str(), k.nearest.as_deref()))
                .collect();
            assert_eq!(
                pairs,
                vec![
                    (
                        "gateway.limits.search.bursts",
                        Some("gateway.limits.search.burst")
                    ),
                    ("gateway.routes.0.paht", Some("gateway.routes.0.path")),
                    ("gateway.tls.certt", Some("gateway.tls.cert")),
                ]
            );
        }

        #[test]
        fn sections_this_process_does_not_read_are_not_judged() {
            let toml = "data_dir = \"d\"\nlog_format = \"pretty\"\n\
                        [gateway]\nlistn = \"x\"\n[catalog]\npage_size = 5\n\
                        [payments]\nanything = 1\n";
            // `serve catalog`: the top level and catalog's section.
            let serve = source(toml, &[]);
            let _: Settings = serve.section("").expect("top level");
            let catalog: Catalog = serve.section("catalog").expect("catalog");
            assert_eq!(catalog.page_size, 5);
            assert_eq!(keys(&serve), Vec::<String>::new());
            // `up`: the gateway's section is read too, and its typo is reported.
            let up = source(toml, &[]);
            let _: Settings = up.section("").expect("top level");
            let _: Gateway = up.section("gateway").expect("gateway");
            let unknown = up.unknown_keys();
            assert_eq!(unknown.len(), 1, "{unknown:?}");
            assert_eq!(unknown[0].key, "gateway.listn");
            assert_eq!(unknown[0].nearest.as_deref(), Some("gateway.listen"));
        }

        #[test]
        fn a_key_any_reader_of_its_section_consumes_is_not_reported() {
            #[derive(Deserialize, Default)]
            #[serde(default)]
            struct First {
                a: u32,
            }
            #[derive(Deserialize, Default)]
            #[serde(default)]
            struct Second {
                b: u32,
            }
            let source = source("[svc]\na = 1\nb = 2\nc = 3\n", &[]);
            let _: First = source.section("svc").expect("first");
            let _: Second = source.section("svc").expect("second");
            assert_eq!(keys(&source), vec!["svc.c".to_owned()]);
            // A clone shares the record: a third reader through it consumes `c`.
            let clone = source.clone();
            let _: toml::Table = clone.section("svc").expect("third");
            assert_eq!(keys(&source), Vec::<String>::new());
        }

        #[test]
        fn an_unknown_top_level_key_is_reported_with_the_nearest_section_or_setting() {
            let toml = "data_dri = \"d\"\n[gatway]\nlisten = \"x\"\n";
            // Even when nothing reads the top level, a table there must be a section.
            let unread = source(toml, &[]);
            let unknown = unread.unknown_keys();
            assert_eq!(unknown.len(), 1, "{unknown:?}");
            assert_eq!(unknown[0].key, "gatway");
            assert_eq!(unknown[0].nearest.as_deref(), Some("gateway"));

            let read = source(toml, &[]);
            let _: Settings = read.section("").expect("top level");
            let pairs: Vec<(String, Option<String>)> = read
                .unknown_keys()
                .into_iter()
                .map(|k| (k.key, k.nearest))
                .collect();
            assert_eq!(
                pairs,
                vec![
                    ("data_dri".to_owned(), Some("data_dir".to_owned())),
                    ("gatway".to_owned(), Some("gateway".to_owned())),
                ]
            );
        }

        #[test]
        fn flag_and_test_variables_are_not_configuration_but_the_same_keys_in_the_file_are() {
            let source = source(
                "database_url = \"postgres://file\"\n",
                &[
                    ("VISCOUNT_LOG", "debug"),
                    ("VISCOUNT_NATS_URL", "nats://127.0.0.1:4333"),
                    ("VISCOUNT_COORDINATION_URL", "http://127.0.0.1:8081"),
                    ("VISCOUNT_TEST_POSTGRES_URL", "postgres://test"),
                    ("VISCOUNT_TEST_REQUIRE_DISTRIBUTED", "1"),
                    ("VISCOUNT_REDIS_URL", "redis://127.0.0.1:6379"),
                    ("VISCOUNT_LOG_FORMAT", "pretty"),
                    ("VISCOUNT_DATA_DIRR", "x"),
                ],
            );
            let settings: Settings = source.section("").expect("top level");
            assert!(settings.redis_url.is_some());
            let unknown = source.unknown_keys();
            let named: Vec<(&str, Option<&str>)> = unknown
                .iter()
                .map(|k| (k.key.as_str(), k.variable.as_deref()))
                .collect();
            assert_eq!(
                named,
                vec![
                    ("data_dirr", Some("VISCOUNT_DATA_DIRR")),
                    ("database_url", None),
                ]
            );
            assert_eq!(
                unknown[0].nearest_variable.as_deref(),
                Some("VISCOUNT_DATA_DIR")
            );
        }

        #[test]
        fn a_section_read_from_its_raw_table_counts_once_noted() {
            let source = source("[gateway]\nlisen = \"x\"\n", &[]);
            let _raw = source.table("gateway");
            assert_eq!(keys(&source), Vec::<String>::new(), "not read yet");
            source.note_read::<Gateway>("gateway");
            assert_eq!(keys(&source), vec!["gateway.lisen".to_owned()]);
        }

        #[test]
        fn a_key_far_from_every_known_one_gets_no_suggestion() {
            let source = source("[gateway]\nzzzzzzzz = 1\n", &[]);
            let _: Gateway = source.section("gateway").expect("section");
            let unknown = source.unknown_keys();
            assert_eq!(unknown.len(), 1);
            assert_eq!(unknown[0].nearest, None);
            assert_eq!(
                unknown[0].to_string(),
                "unknown configuration key `gateway.zzzzzzzz`"
            );
        }
    }
}
