//! Layered configuration: defaults < `viscount.toml` < `VISCOUNT_*` environment variables.
//!
//! Every service reads one typed struct from one section of the merged document. Each
//! struct carries `#[serde(default)]`, so its `Default` impl is the bottom layer; the
//! TOML file overrides it, and environment variables override the file. A double
//! underscore in a variable name descends one table: `VISCOUNT_IDENTITY__ACCESS_TOKEN_TTL_SECS`
//! sets `access_token_ttl_secs` in `[identity]`.
//!
//! Because every field has a default, a mistyped key (`anonymous_per_minut`) would be
//! silently ignored. So every read of a section also notes which keys its struct did
//! not consume (with `serde_ignored`) and which keys the struct knows at each level;
//! [`ConfigSource::unknown_keys`] then names the keys no reader of their section
//! consumed, with the nearest known key. A process reads only some sections (`viscount
//! serve catalog` never reads `[gateway]`), so a key is judged only when its section
//! was read in this process, or when its top-level section is one nothing knows (see
//! [`SECTIONS`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

mod probe;
use probe::{Probe, nearest, segments, variable_name};

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

/// The merged configuration document, from which typed sections are read. Clones share
/// the record of what was read, so keys read through any clone count.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    table: toml::Table,
    /// The variable that set each key path set from the environment.
    variables: BTreeMap<Vec<String>, String>,
    reads: Arc<Mutex<Reads>>,
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
        let variables = overlay_env(&mut table, std::env::vars());
        Ok(Self::new(table, variables))
    }

    fn new(table: toml::Table, variables: BTreeMap<Vec<String>, String>) -> Self {
        Self {
            table,
            variables,
            reads: Arc::default(),
        }
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
        let variables = overlay_env(&mut table, vars);
        Ok(Self::new(table, variables))
    }

    /// Sets `section.key` to `value` unless the file or the environment set it: a
    /// default that depends on how the process was started (the gateway's address as
    /// the tokens' issuer).
    pub fn with_default(mut self, section: &str, key: &str, value: toml::Value) -> Self {
        let entry = self
            .table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(table) = entry {
            table.entry(key).or_insert(value);
        }
        self
    }

    /// One section as it was merged (empty when absent), for layering more values over
    /// it (see [`crate::live`]).
    pub fn table(&self, name: &str) -> toml::Table {
        match self.table.get(name) {
            Some(toml::Value::Table(table)) => table.clone(),
            _ => toml::Table::new(),
        }
    }

    /// Reads one section (`""` for the top level) into its typed struct, noting which
    /// of its keys the struct consumed (see [`ConfigSource::unknown_keys`]).
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let value = self.value_of(name);
        let typed = value
            .clone()
            .try_into()
            .map_err(|source| ConfigError::Invalid {
                section: name.to_owned(),
                source,
            })?;
        self.note::<T>(name, &value);
        Ok(typed)
    }

    /// Notes that section `name` is read as a `T` by a reader that deserializes it by
    /// other means (from [`ConfigSource::table`], with more values laid over it), so
    /// its keys are judged as if read through [`ConfigSource::section`].
    pub fn note_read<T: DeserializeOwned>(&self, name: &str) {
        self.note::<T>(name, &self.value_of(name));
    }

    fn value_of(&self, name: &str) -> toml::Value {
        if name.is_empty() {
            toml::Value::Table(self.table.clone())
        } else {
            self.table
                .get(name)
                .cloned()
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new()))
        }
    }

    /// Deserializes `value` as a `T` once more, through [`Probe`] and `serde_ignored`,
    /// and records what it ignored and which fields it knows.
    fn note<T: DeserializeOwned>(&self, name: &str, value: &toml::Value) {
        let known = RefCell::new(BTreeMap::new());
        let mut ignored = BTreeSet::new();
        let probe = Probe {
            value,
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
            None => self
                .table
                .iter()
                .filter(|(_, value)| value.is_table())
                .map(|(key, _)| vec![key.clone()])
                .collect(),
        };
        for path in unread_top_level {
            let Some(first) = path.first() else {
                continue;
            };
            // A section's keys are judged by its own readers, if it has any here.
            if sections.contains(first.as_str()) || self.is_flag_variable(&path) {
                continue;
            }
            let known = root_known(&path[..path.len() - 1]);
            unknown.push(self.unknown_key(path, &known, &sections));
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
                unknown.push(self.unknown_key(full, &known, &sections));
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

    /// Whether `path` is a top-level key set only by a variable the binary reads as a
    /// flag (or a test suite's).
    fn is_flag_variable(&self, path: &[String]) -> bool {
        let [key] = path else {
            return false;
        };
        self.variables.contains_key(path)
            && (FLAG_VARIABLES.contains(&key.as_str()) || key.starts_with("test_"))
    }

    /// The report of the unknown key at `path` (full): the variable that set it, and
    /// its nearest sibling among `candidates` (the keys known beside it) or, for a
    /// top-level key, a section it starts with.
    fn unknown_key(
        &self,
        path: Vec<String>,
        candidates: &BTreeSet<&str>,
        sections: &BTreeSet<&str>,
    ) -> UnknownKey {
        let variable = self
            .variables
            .iter()
            .find(|(set, _)| set.starts_with(&path))
            .map(|(set, name)| (set.clone(), name.clone()));
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

/// Writes every `VISCOUNT_A__B=v` into `table[a][b]`. A value is read as a TOML value
/// when it parses as one (numbers, booleans, arrays) and as a string otherwise, so
/// `VISCOUNT_LISTEN=127.0.0.1:9000` stays a string while `..._TTL_SECS=60` is a number.
/// Every variable lands in the document, flags' too (`VISCOUNT_DATABASE_URL` is
/// `database_url` at the top level). Answers which variable set each key path.
fn overlay_env(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<Vec<String>, String> {
    let mut variables = BTreeMap::new();
    for (name, raw) in vars {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        let Some((last, parents)) = keys.split_last() else {
            continue;
        };
        set_path(table, parents, last, parse_env_value(&raw));
        variables.insert(keys, name);
    }
    variables
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
