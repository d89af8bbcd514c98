//! `cassandra_user` and `cassandra_password` against a Cassandra that requires a login
//! (`PasswordAuthenticator`): the right password connects and migrates, a wrong or missing one
//! fails at once with an error that says authentication failed and never shows the password.
//! The same server also takes TLS: `cassandra_tls_ca` with its CA connects, an unrelated CA is
//! refused as an untrusted certificate, and an unreadable CA file is named.
//!
//! The server is a second Cassandra that `script/test` starts with `PROSODY_CASSANDRA_PORT=19042
//! PROSODY_CASSANDRA_AUTH=password PROSODY_CASSANDRA_TLS=1 script/services start cassandra` (its
//! own `PROSODY_SERVICES_HOME`), and names in `PROSODY_CASSANDRA_AUTH_NODES`, with its TLS
//! directory in `PROSODY_CASSANDRA_TLS_DIR`. Without those variables each test returns early and
//! says why; with them, a server that does not answer fails the test.

mod support;

use std::time::{Duration, Instant};

use prosody_engine::{Cassandra, Config};

/// The default superuser that `PasswordAuthenticator` creates (test-only).
const USER: &str = "cassandra";
const PASSWORD: &str = "cassandra";
const WRONG_PASSWORD: &str = "not-the-password-4711";

/// How long a refused login may take to be reported.
const REPORTED_WITHIN: Duration = Duration::from_secs(10);

fn auth_nodes() -> Option<String> {
    let nodes = std::env::var("PROSODY_CASSANDRA_AUTH_NODES").ok();
    if nodes.is_none() {
        eprintln!(
            "skipped: PROSODY_CASSANDRA_AUTH_NODES is not set (script/test starts a Cassandra \
             with PasswordAuthenticator on 127.0.0.1:19042 and sets it)"
        );
    }
    nodes
}

/// The auth Cassandra's TLS directory (`ca.pem`, `untrusted-ca.pem`), or `None` after saying
/// why the test cannot run.
fn tls_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("PROSODY_CASSANDRA_TLS_DIR").map(std::path::PathBuf::from);
    if dir.is_none() {
        eprintln!("skipped: PROSODY_CASSANDRA_TLS_DIR is not set (script/test sets it)");
    }
    dir
}

/// Connects with `config`, expecting a refusal reported within [`REPORTED_WITHIN`]; returns
/// the error's text.
async fn refused(config: &Config) -> String {
    let started = Instant::now();
    let error = Cassandra::connect(config)
        .await
        .expect_err("connection refused");
    let message = error.to_string();
    eprintln!("refused in {:?}: {message}", started.elapsed());
    assert!(
        started.elapsed() < REPORTED_WITHIN,
        "took {:?}",
        started.elapsed()
    );
    message
}

fn config(nodes: &str, login: &[(&str, &str)]) -> Config {
    let keyspace = support::unique("prosody_auth").replace('-', "_");
    let mut options = vec![
        ("cassandra_nodes", nodes),
        ("cassandra_keyspace", &keyspace),
    ];
    options.extend_from_slice(login);
    Config::from_options_with_env(options, |_| None).expect("valid configuration")
}

#[tokio::test]
async fn the_right_password_connects_and_migrates() {
    let Some(nodes) = auth_nodes() else { return };
    let config = config(
        &nodes,
        &[("cassandra_user", USER), ("cassandra_password", PASSWORD)],
    );
    let cassandra = Cassandra::connect(&config).await.expect("login accepted");
    assert!(cassandra
        .release_version()
        .await
        .expect("version")
        .starts_with("5."));
    let applied = cassandra
        .migrate()
        .await
        .expect("migrations run as the logged-in user");
    assert!(!applied.is_empty(), "a fresh keyspace gets every migration");
    // The shared session (what timers, deduplication and deferral use) logs in the same way.
    let shared = Cassandra::shared(&config)
        .get()
        .await
        .expect("shared session");
    assert_eq!(shared.keyspace(), config.cassandra_keyspace);
}

#[tokio::test]
async fn a_wrong_password_is_an_authentication_error() {
    let Some(nodes) = auth_nodes() else { return };
    let config = config(
        &nodes,
        &[
            ("cassandra_user", USER),
            ("cassandra_password", WRONG_PASSWORD),
        ],
    );
    let message = refused(&config).await;
    assert!(message.to_lowercase().contains("authenticat"), "{message}");
    assert!(message.contains(&nodes), "{message}");
    assert!(!message.contains(WRONG_PASSWORD), "{message}");
}

#[tokio::test]
async fn no_login_against_a_server_that_requires_one_is_an_authentication_error() {
    let Some(nodes) = auth_nodes() else { return };
    let message = refused(&config(&nodes, &[])).await;
    assert!(message.contains("requires a login"), "{message}");
    assert!(
        message.contains("`cassandra_user` and `cassandra_password`"),
        "{message}"
    );
    assert!(!message.contains("SessionBuilder"), "{message}");
}

#[tokio::test]
async fn a_wrong_password_does_not_borrow_a_session_logged_in_with_the_right_one() {
    let Some(nodes) = auth_nodes() else { return };
    let right = config(
        &nodes,
        &[("cassandra_user", USER), ("cassandra_password", PASSWORD)],
    );
    Cassandra::shared(&right)
        .get()
        .await
        .expect("login accepted");
    let mut wrong = right.clone();
    wrong.cassandra_password = Some(WRONG_PASSWORD.into());
    let error = Cassandra::shared(&wrong)
        .get()
        .await
        .expect_err("login refused");
    assert!(error.to_string().contains("bad credentials"), "{error}");
}

/// The right login over TLS, trusting `ca` (a file in the TLS directory).
fn tls_config(ca: &str) -> Option<Config> {
    let (Some(nodes), Some(dir)) = (auth_nodes(), tls_dir()) else {
        return None;
    };
    let ca = dir.join(ca).to_string_lossy().into_owned();
    Some(config(
        &nodes,
        &[
            ("cassandra_user", USER),
            ("cassandra_password", PASSWORD),
            ("cassandra_tls_ca", &ca),
        ],
    ))
}

#[tokio::test]
async fn tls_with_the_servers_ca_connects_and_migrates() {
    let Some(config) = tls_config("ca.pem") else {
        return;
    };
    let cassandra = Cassandra::connect(&config)
        .await
        .expect("TLS connection with the server's CA");
    assert!(cassandra
        .release_version()
        .await
        .expect("version")
        .starts_with("5."));
    cassandra.migrate().await.expect("migrations over TLS");
}

#[tokio::test]
async fn tls_with_an_unrelated_ca_is_refused_as_an_untrusted_certificate() {
    let Some(config) = tls_config("untrusted-ca.pem") else {
        return;
    };
    let message = refused(&config).await;
    assert!(message.contains("certificate verify failed"), "{message}");
}

#[tokio::test]
async fn an_unreadable_ca_file_is_named() {
    let config = Config::from_options_with_env(
        [
            ("cassandra_nodes", "127.0.0.1:1"),
            ("cassandra_tls_ca", "/nonexistent/prosody-ca.pem"),
        ],
        |_| None,
    )
    .expect("valid");
    let message = Cassandra::connect(&config)
        .await
        .expect_err("no CA file")
        .to_string();
    assert!(
        message.contains("`cassandra_tls_ca` (/nonexistent/prosody-ca.pem)"),
        "{message}"
    );
}
