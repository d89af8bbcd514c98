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
