//! `Prosody::Timer`: a timer that came due, as the handler's `on_timer` receives it.
//!
//! The class is a Ruby `Struct` (`lib/prosody/context.rb`); this file builds instances from
//! engine timers on the processor thread, the only place Ruby objects are made.

use magnus::{prelude::*, Error, RClass, RModule, Ruby, Value};
use prosody_engine::Timer;

/// `Prosody::Timer.new(key, Time)` for `timer`.
pub(crate) fn to_ruby(ruby: &Ruby, timer: &Timer) -> Result<Value, Error> {
    // Timers are stored in whole seconds, so nothing is lost here.
    let secs = timer
        .time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let time: Value = ruby
        .class_object()
        .const_get::<_, RClass>("Time")?
        .funcall("at", (secs,))?;
    let class: RClass = ruby
        .class_object()
        .const_get::<_, RModule>("Prosody")?
        .const_get("Timer")?;
    class.new_instance((timer.key.as_str(), time))
}
