//! A row written through the shared session reads back, on the real Cassandra at
//! `PROSODY_CASSANDRA_NODES` (default 127.0.0.1:9042).

mod support;

use prosody_engine::{Cassandra, Config};

fn cassandra_config() -> Config {
    Config::from_options_with_env([("cassandra_nodes", support::cassandra_nodes())], |_| None)
        .expect("valid configuration")
}

#[tokio::test]
async fn writes_and_reads_a_row() {
    let cassandra = Cassandra::connect(&cassandra_config())
        .await
        .expect("cassandra reachable");
    assert!(cassandra
        .release_version()
        .await
        .expect("version")
        .starts_with("5."));
    let session = cassandra.session();
    session
        .query_unpaged(
            "CREATE KEYSPACE IF NOT EXISTS prosody_test WITH replication = \
             {'class': 'SimpleStrategy', 'replication_factor': 1}",
            &[],
        )
        .await
        .expect("keyspace");
    session
        .query_unpaged(
            "CREATE TABLE IF NOT EXISTS prosody_test.rows (id text PRIMARY KEY, body text)",
            &[],
        )
        .await
        .expect("table");
    let id = support::unique("row");
    session
        .query_unpaged(
            "INSERT INTO prosody_test.rows (id, body) VALUES (?, ?)",
            (&id, "hello"),
        )
        .await
        .expect("insert");
    let (body,): (String,) = session
        .query_unpaged("SELECT body FROM prosody_test.rows WHERE id = ?", (&id,))
        .await
        .expect("select")
        .into_rows_result()
        .expect("rows")
        .first_row()
        .expect("one row");
    assert_eq!(body, "hello");
}

#[tokio::test]
async fn unreachable_nodes_fail_with_a_clear_error() {
    let config = Config::from_options_with_env([("cassandra_nodes", "127.0.0.1:1")], |_| None)
        .expect("valid");
    let error = Cassandra::connect(&config)
        .await
        .expect_err("nothing listens on port 1");
    assert!(error.is_transient());
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

#[tokio::test]
async fn half_a_login_is_refused_naming_the_missing_option() {
    for (given, missing) in [
        ("cassandra_user", "cassandra_password"),
        ("cassandra_password", "cassandra_user"),
    ] {
        let config = Config::from_options_with_env(
            [
                ("cassandra_nodes", support::cassandra_nodes().as_str()),
                (given, "secret-4711"),
            ],
            |_| None,
        )
        .expect("valid");
        let error = Cassandra::connect(&config).await.expect_err("refused");
        let message = error.to_string();
        assert!(message.contains(missing), "{message}");
        assert!(!message.contains("secret-4711"), "{message}");
    }
}

#[tokio::test]
async fn shared_session_creates_the_schema() {
    let config = cassandra_config();
    let cassandra = Cassandra::shared(&config)
        .get()
        .await
        .expect("cassandra reachable");
    let again = Cassandra::shared(&config)
        .get()
        .await
        .expect("cached session");
    assert_eq!(cassandra.keyspace(), again.keyspace());
    for table in ["dedup", "timer_slabs", "timer_slab_index", "timer_keys"] {
        let rows = cassandra
            .session()
            .query_unpaged(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
                (cassandra.keyspace(), table),
            )
            .await
            .expect("schema query")
            .into_rows_result()
            .expect("rows");
        assert_eq!(rows.rows_num(), 1, "table {table} exists");
    }
}

/// A configuration for a keyspace no other test uses.
fn fresh_keyspace_config() -> Config {
    support::init_logging();
    let keyspace = support::unique("prosody_migrate").replace('-', "_");
    Config::from_options_with_env(
        [
            ("cassandra_nodes", support::cassandra_nodes()),
            ("cassandra_keyspace", keyspace),
        ],
        |_| None,
    )
    .expect("valid configuration")
}

async fn recorded_migrations(cassandra: &Cassandra) -> Vec<(String, String)> {
    let query = format!(
        "SELECT name, checksum FROM {}.schema_migrations",
        cassandra.keyspace()
    );
    let mut rows: Vec<(String, String)> = cassandra
        .session()
        .query_unpaged(query, &[])
        .await
        .expect("schema_migrations readable")
        .into_rows_result()
        .expect("rows")
        .rows::<(String, String)>()
        .expect("typed rows")
        .collect::<Result<_, _>>()
        .expect("rows decode");
    rows.sort();
    rows
}

async fn drop_keyspace(cassandra: &Cassandra) {
    let drop = format!("DROP KEYSPACE IF EXISTS {}", cassandra.keyspace());
    let _ = cassandra.session().query_unpaged(drop, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrators_apply_each_file_exactly_once() {
    let config = fresh_keyspace_config();
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(
            Cassandra::connect(&config)
                .await
                .expect("cassandra reachable"),
        );
    }
    let started = std::time::Instant::now();
    let runs = futures::future::join_all(sessions.iter().map(|cassandra| {
        let cassandra = cassandra.clone();
        tokio::spawn(async move { cassandra.migrate().await })
    }))
    .await;
    let mut applied: Vec<&str> = Vec::new();
    for run in runs {
        applied.extend(run.expect("task").expect("every migrator succeeds"));
    }
    applied.sort_unstable();
    eprintln!("4 concurrent migrators took {:?}", started.elapsed());
    assert_eq!(
        applied,
        [
            "0001_dedup.cql",
            "0002_timers.cql",
            "0003_defer.cql",
            "0004_deferred_timers.cql",
            "0005_timer_trace.cql",
            "0006_timer_baggage.cql",
            "0007_keyed_state.cql",
            "0008_deferred_timer_trace.cql"
        ],
        "each file applied by exactly one migrator"
    );

    let recorded = recorded_migrations(&sessions[0]).await;
    let names: Vec<&str> = recorded.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "0001_dedup.cql",
            "0002_timers.cql",
            "0003_defer.cql",
            "0004_deferred_timers.cql",
            "0005_timer_trace.cql",
            "0006_timer_baggage.cql",
            "0007_keyed_state.cql",
            "0008_deferred_timer_trace.cql"
        ]
    );
    assert!(recorded.iter().all(|(_, checksum)| checksum.len() == 64));
    assert!(
        sessions[1].migrate().await.expect("fast path").is_empty(),
        "nothing left to apply"
    );
    drop_keyspace(&sessions[0]).await;
}

#[tokio::test]
async fn a_changed_applied_migration_is_reported_by_name() {
    let cassandra = Cassandra::connect(&fresh_keyspace_config())
        .await
        .expect("cassandra reachable");
    assert_eq!(cassandra.migrate().await.expect("first run").len(), 8);
    let tamper = format!(
        "UPDATE {}.schema_migrations SET checksum = 'edited' WHERE name = '0001_dedup.cql'",
        cassandra.keyspace()
    );
    cassandra
        .session()
        .query_unpaged(tamper, &[])
        .await
        .expect("update");
    let error = cassandra.migrate().await.expect_err("checksum mismatch");
    assert!(
        matches!(&error, prosody_engine::Error::Migration { file, .. } if file == "0001_dedup.cql"),
        "{error:?}"
    );
    assert!(error.to_string().contains("0001_dedup.cql"), "{error}");
    assert!(!error.is_transient());
    drop_keyspace(&cassandra).await;
}

#[tokio::test]
async fn preferring_a_datacenter_and_rack_connects_and_fails_over() {
    let nodes = support::cassandra_nodes();
    let preferred = |datacenter: &str| {
        Config::from_options_with_env(
            [
                ("cassandra_nodes", nodes.as_str()),
                ("cassandra_datacenter", datacenter),
                ("cassandra_rack", "rack1"),
            ],
            |_| None,
        )
        .expect("valid configuration")
    };
    // The local node's datacenter and rack (Cassandra's defaults).
    let local = Cassandra::connect(&preferred("datacenter1"))
        .await
        .expect("connects preferring the local datacenter");
    assert!(local
        .release_version()
        .await
        .expect("answers")
        .starts_with("5."));
    // A datacenter that does not exist: queries fail over to the nodes that do.
    let elsewhere = Cassandra::connect(&preferred("elsewhere"))
        .await
        .expect("connects preferring a missing datacenter");
    assert!(elsewhere
        .release_version()
        .await
        .expect("fails over")
        .starts_with("5."));
}
