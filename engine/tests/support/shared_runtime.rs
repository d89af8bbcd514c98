//! One tokio runtime shared by every test of a test binary.
//!
//! The process-wide Cassandra session keeps its connections on the runtime that first used
//! it, so a test binary whose tests each built their own runtime would find the session's
//! connections gone after the first test ended.

use std::future::Future;
use std::sync::OnceLock;

/// Runs `test` to completion on the binary's shared two-thread runtime.
pub fn run<F: Future>(test: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("test runtime")
        })
        .block_on(test)
}

/// Declares a test module `$name` with a `mock` and a `real` test that run
/// `$scenario(Broker)` on the shared runtime ([`run`]): on the mock cluster with the
/// in-memory stores, and on real Kafka with Cassandra.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $scenario:ident;)*) => {
        $(
            mod $name {
                #[test]
                fn mock() {
                    super::run(super::$scenario(super::Broker::Mock));
                }

                #[test]
                fn real() {
                    super::run(super::$scenario(super::Broker::Real));
                }
            }
        )*
    };
}
