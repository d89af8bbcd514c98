//! Enumerated option values: the processing [`Mode`] and the tracing
//! [`SpanRelation`].

use std::fmt;

/// How the consumer reacts to handler failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Keep per-key order and retry failures until they succeed, deferring
    /// failing keys so the rest of the partition can proceed.
    #[default]
    Pipeline,
    /// Retry briefly, then publish persistently failing messages to the
    /// failure topic and move on.
    LowLatency,
    /// Accept that some messages fail; suited to development and to
    /// services where losing a message is tolerable.
    BestEffort,
}

impl Mode {
    /// Parses a mode name: `pipeline`, `low_latency` / `low-latency` or
    /// `best_effort` / `best-effort`, ignoring letter case and surrounding
    /// whitespace.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match normalize(name).as_str() {
            "pipeline" => Some(Self::Pipeline),
            "low_latency" => Some(Self::LowLatency),
            "best_effort" => Some(Self::BestEffort),
            _ => None,
        }
    }

    /// The canonical lowercase, underscore-separated name of this mode.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pipeline => "pipeline",
            Self::LowLatency => "low_latency",
            Self::BestEffort => "best_effort",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an execution span is linked to the span that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanRelation {
    /// The execution span becomes a child of the originating span and so
    /// joins the same trace.
    Child,
    /// The execution span starts a new trace carrying a link back to the
    /// originating span.
    FollowsFrom,
}

impl SpanRelation {
    /// Parses `child` or `follows_from` / `follows-from`, ignoring letter
    /// case and surrounding whitespace.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match normalize(name).as_str() {
            "child" => Some(Self::Child),
            "follows_from" => Some(Self::FollowsFrom),
            _ => None,
        }
    }

    /// The canonical lowercase, underscore-separated name of this relation.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Child => "child",
            Self::FollowsFrom => "follows_from",
        }
    }
}

impl fmt::Display for SpanRelation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lowercases, trims and turns hyphens into underscores.
fn normalize(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}
