//! Running an engine future to completion from a plain Ruby thread, without the GVL.

use std::future::Future;

use magnus::{Error, Ruby};

use crate::helpers::nogvl;
use crate::helpers::runtime::runtime;

/// Runs `future` to completion without holding the GVL. An interrupt that raises (Ctrl-C,
/// `Timeout`, `Thread#raise`) returns its exception while the future keeps running on the
/// runtime; see [`nogvl::wait`].
pub(crate) fn block_on<F, T>(ruby: &Ruby, future: F) -> Result<T, Error>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let runtime =
        runtime().map_err(|message| crate::helpers::errors::prosody_error(ruby, message))?;
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = sender.send(future.await);
    });
    nogvl::wait(ruby, &receiver)?.ok_or_else(|| {
        crate::helpers::errors::prosody_error(
            ruby,
            "the engine dropped the operation before it finished (its runtime stopped)",
        )
    })
}

/// [`block_on`] for a future returning an engine `Result`: its error becomes the matching Ruby
/// exception.
pub(crate) fn block_on_engine<F, T>(ruby: &Ruby, future: F) -> Result<T, Error>
where
    F: Future<Output = prosody_engine::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    block_on(ruby, future)?.map_err(|error| crate::helpers::errors::to_ruby(ruby, &error))
}
