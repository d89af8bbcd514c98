# frozen_string_literal: true

module Prosody
  # What a handler may ask while it runs: which key and attempt it handles, whether to stop,
  # and (for the event's key) timers. The processor passes one per event to `on_message`,
  # `on_timer` or `on_excise`; it is valid while that handler runs.
  #
  # The object is also the engine's handle on the event: the extension defines the class, with
  # the private methods the processor reports through, so an event costs no wrapper object.
  #
  # @example Give up on a dependency after a few attempts
  #   raise Prosody::PermanentError, "still unreachable" if context.attempt > 5
  class Context
    # The processor's side of the event, defined by the extension (see `ruby_api/event.rs`).
    private :id, :retries, :cancelled?, :traceparent, :baggage, :complete, :timer, :state_op,
            :finished?, :answers_request?, :respond

    # @!method key
    #   The key of the event being handled.
    #   @example
    #     context.key # => "customer-1"
    #   @return [String]

    # @!method attempt
    #   Which attempt at the event this is: 1 for the first, counting up as the retry layer
    #   tries again (in best-effort mode it stays 1). A redelivery after a restart or rebalance
    #   starts again at 1.
    #   @example
    #     raise Prosody::PermanentError, "still unreachable" if context.attempt > 5
    #   @return [Integer]

    # Whether this is the event's first delivery or a retry after a failure, and how many
    # attempts came before this one (see {Demand}). Works in `on_message`, `on_timer` and
    # `on_excise`.
    # @example
    #   context.demand # => #<Prosody::Demand kind=failure retry=2>
    #   context.demand.failure? # => true
    # @return [Demand]
    def demand
      Demand.new(retries)
    end

    # Whether the engine asked this handler to stop (timeout, rebalance or shutdown).
    # @example
    #   rows.each { |row| break if context.should_cancel?; import(row) }
    # @return [Boolean]
    def should_cancel?
      cancelled?
    end

    # Without a block: waits until the engine cancels this handler (timeout, rebalance or
    # shutdown), then returns, so the handler can clean up and finish. Only the calling fiber
    # waits; other handlers keep running. A handler waiting here is not sent `Async::Stop`.
    #
    # With a block: registers it to run on cancellation, just before `Async::Stop` is raised in
    # the handler's fiber, and returns at once.
    #
    # @example Wait for cancellation in a watchdog fiber
    #   Async { context.on_cancel; connection.close }
    # @example Stop a long loop cleanly
    #   context.on_cancel { @aborted = true }
    # @yield called at most once, on the processor thread
    # @return [self, nil] self when given a block, nil once cancelled otherwise
    def on_cancel(&block)
      cancellation = self.cancellation
      if block
        cancellation.add(block)
        return self
      end
      return nil if should_cancel?

      cancellation.wait
      nil
    end

    # Schedules a timer for this event's key. The timer fires once, through the key's queue
    # (never alongside its messages), as a call to `on_timer(context, timer)` on the consumer
    # that owns the key's partition. Scheduling a time that is already scheduled does nothing.
    #
    # @example Follow up in an hour
    #   context.schedule(Time.now + 3600)
    # @param time [Time] when to fire; kept in whole seconds, rounded half up
    # @return [nil]
    # @raise [ArgumentError] if the time is before 1970 or after 2106-02-07 06:28:15 UTC
    # @raise [TransientError] if the timer store cannot be reached (retried like any failure)
    def schedule(time)
      timer(:schedule, TimerTime.seconds(time)).value
      nil
    end

    # Replaces every timer of this key with one at `time`.
    # @example
    #   context.clear_and_schedule(Time.now + 60)
    # @param time [Time]
    # @return [nil]
    def clear_and_schedule(time)
      timer(:clear_and_schedule, TimerTime.seconds(time)).value
      nil
    end

    # Removes this key's timer at `time`, if there is one.
    # @example
    #   context.unschedule(reminder_time)
    # @param time [Time]
    # @return [nil]
    def unschedule(time)
      timer(:unschedule, TimerTime.seconds(time)).value
      nil
    end

    # Removes every timer of this key.
    # @example
    #   context.clear_scheduled
    # @return [nil]
    def clear_scheduled
      timer(:clear_scheduled, nil).value
      nil
    end

    # The times scheduled for this key, earliest first. Inside `on_timer`, the firing timer is
    # not listed unless it was scheduled again.
    # @example
    #   context.scheduled # => [2030-01-01 00:00:00 +0000]
    # @return [Array<Time>]
    def scheduled
      timer(:scheduled, nil).value.map { |seconds| Time.at(seconds) }
    end

    # The current key's collection declared by `definition`, which the client registered with
    # `state_collections:`. The same handle for the same definition during one handler call;
    # it raises {PermanentStateError} once the handler returned.
    # @param definition [StateDefinition] from {Prosody.value}, {Prosody.map}, {Prosody.set},
    #   {Prosody.deque} or their `message_*` twins (whose handles store and return
    #   {Prosody::Message}s)
    # @return [State::Value, State::Map, State::Set, State::Deque]
    # @raise [TypeError] when `definition` is not a {StateDefinition}
    # @example
    #   count = context.state(COUNT)
    #   count.set((count.get || 0) + 1)
    def state(definition)
      unless definition.is_a?(StateDefinition)
        raise TypeError,
              "expected a Prosody::StateDefinition, got #{definition.inspect}"
      end

      @states ||= {}
      @states[definition] ||= State::HANDLES.fetch(definition.kind).new(self, definition)
    end

    # @example
    #   context.inspect # => "#<Prosody::Context key=\"customer-1\" attempt=1>"
    # @return [String]
    def inspect
      "#<#{self.class} key=#{key.inspect} attempt=#{attempt}>"
    end

    private

    # The engine cancelled this event (the worker calls this): runs the `on_cancel` callbacks
    # and wakes a fiber waiting in `on_cancel`. False when nothing waits, so the worker stops
    # the handler's fiber instead.
    def trigger_cancellation(logger)
      @cancellation&.trigger(logger) || false
    end

    # This run's cancellation state while the handler runs; afterwards a detached one that
    # never fires (no cancellation can come for a finished event).
    def cancellation
      return Cancellation.new if finished?

      @cancellation ||= Cancellation.new
    end
  end

  # A timer that came due for a key.
  Timer = Struct.new(:key, :time)
end
