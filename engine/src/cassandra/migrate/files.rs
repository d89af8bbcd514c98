//! The embedded migration files: their order, checksums and statements.
//!
//! A file is identified by its name and checked by the SHA-256 of its exact text (before the
//! keyspace is substituted), so the same file has the same checksum in every keyspace.

use std::collections::HashMap;
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One CQL file compiled into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migration {
    /// The file name, which orders migrations and is recorded once applied.
    pub(crate) name: &'static str,
    /// The file's text, with `{{keyspace}}` where the keyspace name goes.
    pub(crate) text: &'static str,
}

/// Every migration, in name order. Append new files; never edit one that was released.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_dedup.cql",
        text: include_str!("../migrations/0001_dedup.cql"),
    },
    Migration {
        name: "0002_timers.cql",
        text: include_str!("../migrations/0002_timers.cql"),
    },
    Migration {
        name: "0003_defer.cql",
        text: include_str!("../migrations/0003_defer.cql"),
    },
    Migration {
        name: "0004_deferred_timers.cql",
        text: include_str!("../migrations/0004_deferred_timers.cql"),
    },
    Migration {
        name: "0005_timer_trace.cql",
        text: include_str!("../migrations/0005_timer_trace.cql"),
    },
    Migration {
        name: "0006_timer_baggage.cql",
        text: include_str!("../migrations/0006_timer_baggage.cql"),
    },
    Migration {
        name: "0007_keyed_state.cql",
        text: include_str!("../migrations/0007_keyed_state.cql"),
    },
    Migration {
        name: "0008_deferred_timer_trace.cql",
        text: include_str!("../migrations/0008_deferred_timer_trace.cql"),
    },
];

impl Migration {
    /// The lowercase hex SHA-256 of the file's text.
    pub(crate) fn checksum(&self) -> String {
        let digest = Sha256::digest(self.text.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            let _ = write!(hex, "{byte:02x}");
        }
        hex
    }

    /// The file's statements for `keyspace`, in order.
    pub(crate) fn statements(&self, keyspace: &str) -> Vec<String> {
        statements(self.text, keyspace)
    }
}

/// The migrations of `all` not yet in `applied` (file name to recorded checksum), in order.
///
/// # Errors
///
/// When an applied file's recorded checksum differs from the embedded text: the file was
/// edited after it was released, and the schema may not match what this binary expects.
/// Names in `applied` that `all` lacks (files from a newer release) are ignored.
pub(crate) fn pending<'a>(
    all: &'a [Migration],
    applied: &HashMap<String, String>,
) -> Result<Vec<&'a Migration>> {
    let mut pending = Vec::new();
    for migration in all {
        match applied.get(migration.name) {
            None => pending.push(migration),
            Some(recorded) if *recorded == migration.checksum() => {}
            Some(recorded) => {
                return Err(Error::Migration {
                    file: migration.name.to_owned(),
                    reason: format!(
                        "it was applied with checksum {recorded} but the embedded file has \
                         checksum {}; released migrations must not change, so restore the \
                         file and add the change as a new migration",
                        migration.checksum()
                    ),
                });
            }
        }
    }
    Ok(pending)
}

/// Splits CQL `text` into statements at `;`, drops `--` and `//` comments, and replaces
/// `{{keyspace}}` with `keyspace`. Semicolons and comment markers inside single-quoted string
/// literals are kept.
pub(crate) fn statements(text: &str, keyspace: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            current.push(c);
            in_string = c != '\'';
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                current.push(c);
            }
            '-' | '/' if chars.peek() == Some(&c) => {
                for skipped in chars.by_ref() {
                    if skipped == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            ';' => statements.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    statements.push(current);
    statements
        .iter()
        .map(|statement| statement.trim())
        .filter(|statement| !statement.is_empty())
        .map(|statement| statement.replace("{{keyspace}}", keyspace))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_trimmed_and_given_the_keyspace() {
        let text = "-- a heading\nCREATE TABLE {{keyspace}}.a (id int PRIMARY KEY);\n\n\
                    // another comment; with a semicolon\n\
                    CREATE TABLE {{keyspace}}.b (\n    id int PRIMARY KEY -- trailing\n);\n";
        assert_eq!(
            statements(text, "ks_1"),
            vec![
                "CREATE TABLE ks_1.a (id int PRIMARY KEY)",
                "CREATE TABLE ks_1.b (\n    id int PRIMARY KEY \n)",
            ]
        );
    }

    #[test]
    fn string_literals_keep_semicolons_and_comment_markers() {
        let text = "INSERT INTO t (a) VALUES ('x; -- y // z');INSERT INTO t (a) VALUES ('it''s')";
        assert_eq!(
            statements(text, "ks"),
            vec![
                "INSERT INTO t (a) VALUES ('x; -- y // z')",
                "INSERT INTO t (a) VALUES ('it''s')",
            ]
        );
    }

    #[test]
    fn empty_and_comment_only_text_has_no_statements() {
        assert!(statements("", "ks").is_empty());
        assert!(statements("-- nothing\n;\n  ;", "ks").is_empty());
    }

    #[test]
    fn every_embedded_file_yields_statements_in_its_keyspace() {
        let mut names: Vec<_> = MIGRATIONS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        assert_eq!(names, MIGRATIONS.iter().map(|m| m.name).collect::<Vec<_>>());
        for migration in MIGRATIONS {
            let statements = migration.statements("ks_x");
            assert!(!statements.is_empty(), "{}", migration.name);
            for statement in statements {
                assert!(statement.contains("ks_x."), "{statement}");
                assert!(!statement.contains("{{"), "{statement}");
            }
        }
    }

    #[test]
    fn checksums_are_sha256_hex_of_the_text() {
        let empty = Migration {
            name: "empty",
            text: "",
        };
        assert_eq!(
            empty.checksum(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(MIGRATIONS[0].checksum(), MIGRATIONS[1].checksum());
    }

    #[test]
    fn pending_lists_unapplied_files_and_ignores_unknown_ones() {
        let mut applied = HashMap::new();
        assert_eq!(
            pending(MIGRATIONS, &applied).unwrap().len(),
            MIGRATIONS.len()
        );
        applied.insert(MIGRATIONS[0].name.to_owned(), MIGRATIONS[0].checksum());
        applied.insert("9999_from_a_newer_release.cql".to_owned(), "abc".to_owned());
        let left = pending(MIGRATIONS, &applied).unwrap();
        assert_eq!(left, MIGRATIONS[1..].iter().collect::<Vec<_>>());
    }

    #[test]
    fn a_changed_applied_file_is_an_error_naming_it() {
        let applied = HashMap::from([(MIGRATIONS[1].name.to_owned(), "0badc0de".to_owned())]);
        let error = pending(MIGRATIONS, &applied).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("0002_timers.cql"), "{text}");
        assert!(text.contains("0badc0de"), "{text}");
        assert!(!error.is_transient());
    }
}
