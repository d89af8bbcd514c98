//! What the catalogue says of each option (name, environment variable, default as text, kind,
//! description), and lookups by name. The catalogue itself is declared, with everything else
//! about each option, in [`super::options`].

pub(crate) use super::options::OPTIONS;

/// The syntax an option's textual value must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OptionKind {
    /// Free text, taken as given (surrounding whitespace is trimmed for
    /// names, kept for credentials).
    String,
    /// Comma-separated list; entries are trimmed and empty entries dropped.
    StringList,
    /// `true`/`false`, `yes`/`no` or `1`/`0`, in any letter case.
    Bool,
    /// A non-negative decimal integer (some options require at least 1).
    Integer,
    /// A finite decimal number (some options require the range 0 to 1).
    Float,
    /// A humantime duration such as `250ms`, `5m` or `7d`, or a bare number
    /// of seconds such as `1.5`.
    Duration,
    /// A TCP port from 1 to 65535, or `none`/`false`/`nil`/empty to disable.
    OptionalPort,
    /// `pipeline`, `low_latency` or `best_effort` (hyphens also accepted).
    Mode,
    /// `child` or `follows_from` (hyphen also accepted).
    SpanRelation,
    /// librdkafka properties: a JSON object of names to text; from the environment, one
    /// `PROSODY_KAFKA_CONFIG_<NAME>` variable per property.
    Properties,
}

/// Metadata describing one configuration option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The option's name as passed explicitly (also the `Config` field name).
    pub name: &'static str,
    /// The environment variable consulted when the option is not passed.
    pub env: &'static str,
    /// The default, as text for humans. Text in parentheses describes an
    /// absent or derived default rather than a literal value.
    pub default: &'static str,
    /// The syntax the value must follow.
    pub kind: OptionKind,
    /// A one-sentence description of what the option controls.
    pub doc: &'static str,
}

/// Finds an option by its exact name.
pub(crate) fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| spec.name == name)
}

/// Proposes the valid option name a mistyped `name` most likely meant.
///
/// Environment variable spellings (`PROSODY_RETRY_MAX_DELAY`,
/// `retry_max_delay`) map straight to their option; otherwise the closest
/// name by Jaro-Winkler similarity is returned if it is close enough.
pub(crate) fn suggest(name: &str) -> Option<&'static str> {
    let lowered = name.trim().to_ascii_lowercase().replace('-', "_");
    let bare = lowered.strip_prefix("prosody_").unwrap_or(&lowered);
    if let Some(spec) = OPTIONS
        .iter()
        .find(|spec| spec.name == bare || env_suffix_matches(spec, bare))
    {
        return Some(spec.name);
    }
    OPTIONS
        .iter()
        .map(|spec| (strsim::jaro_winkler(bare, spec.name), spec.name))
        .filter(|(score, _)| *score >= SUGGESTION_THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

/// Minimum Jaro-Winkler similarity for a suggestion to be offered.
const SUGGESTION_THRESHOLD: f64 = 0.85;

/// Whether `bare` is the option's environment variable without `PROSODY_`.
fn env_suffix_matches(spec: &OptionSpec, bare: &str) -> bool {
    spec.env
        .strip_prefix("PROSODY_")
        .is_some_and(|suffix| suffix.eq_ignore_ascii_case(bare))
}
