//! Reading another subsystem's published keyed state: committed data only, outside any
//! consumer and without a subscription.
//!
//! `Native::Client#state_read(subsystem, definition, key, operation, args)` starts a read-only
//! transaction on `key` of the state `subsystem` publishes (its consumer keeps its state under
//! that name), runs one read operation and drops the transaction. Caching is the Ruby side's
//! (`read_cache`).

use std::sync::{Arc, OnceLock};

use prosody_engine::state::{
    CassandraStateStore, Definition, MemoryStateStore, Registry, StateError, StateStore, StateTxn,
    TxnScope,
};
use prosody_engine::Config;

use crate::ruby_api::state_ops::{StateOp, StateReply};

/// A client's way to published state; the store is made on first use.
#[derive(Default)]
pub(crate) struct StateReader {
    store: OnceLock<Arc<dyn StateStore>>,
}

impl StateReader {
    fn store(&self, config: &Config) -> Arc<dyn StateStore> {
        let store = self.store.get_or_init(|| {
            if config.mock {
                MemoryStateStore::shared() as Arc<dyn StateStore>
            } else {
                Arc::new(CassandraStateStore::from_config(config))
            }
        });
        Arc::clone(store)
    }

    /// The future that runs `operation` (a read) on `subsystem`'s `definition` for `key`.
    pub(crate) fn read(
        &self,
        config: &Config,
        subsystem: String,
        definition: Definition,
        key: String,
        operation: StateOp,
    ) -> impl std::future::Future<Output = StateReply> + Send + 'static {
        let store = self.store(config);
        async move {
            if !definition.options().published {
                return StateReply::Failed(
                    StateError::Usage {
                        name: definition.name().to_owned(),
                        reason: "is not published: declare it with `published: true` to read it from another client".into(),
                    }
                    .into(),
                );
            }
            if !operation.is_read() {
                return StateReply::Failed(
                    StateError::Usage {
                        name: definition.name().to_owned(),
                        reason: "published state is read-only outside its subsystem's handlers"
                            .into(),
                    }
                    .into(),
                );
            }
            let registry = match Registry::new(Some(&subsystem), [definition.clone()]) {
                Ok(registry) => Arc::new(registry),
                Err(error) => return StateReply::Failed(error.into()),
            };
            let scope = TxnScope {
                group: subsystem,
                key,
                // A reader writes nothing, so no owner's epoch can fence it.
                epoch: u64::MAX,
                event: None,
            };
            let outcome = match StateTxn::begin(store, registry, scope).await {
                Ok(mut txn) => operation.apply(&mut txn, &definition).await,
                Err(error) => Err(error),
            };
            outcome.unwrap_or_else(StateReply::Failed)
        }
    }
}
