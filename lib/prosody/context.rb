# frozen_string_literal: true

require "async/notification"

module Prosody
  # What a handler may ask while it runs: whether to stop, and (for the event's key) timers.
  # Instances come from the engine; one per event.
  #
  # The engine defines `key`, `should_cancel?` and `attempt`: which attempt at the event this
  # is, 1 for the first and counting up as the retry layer tries again (in best-effort mode it
  # stays 1). A redelivery after a restart or rebalance starts again at 1.
  #
  # @example Give up on a dependency after a few attempts
  #   raise Prosody::PermanentError, "still unreachable" if context.attempt > 5
  class Context
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
      if block
        (@cancel_callbacks ||= []) << block
        return self
      end
      return nil if should_cancel?

      (@cancel_waiter ||= Async::Notification.new).wait
      nil
    end

    # Runs the cancellation callbacks and wakes a fiber waiting in {#on_cancel}. Returns true if
    # one was waiting, in which case the handler is left to finish on its own.
    # @api private
    def __cancel(logger)
      __run_cancel_callbacks(logger)
      return false unless @cancel_waiter

      @cancel_waiter.signal
      true
    end

    # @api private
    def __run_cancel_callbacks(logger)
      callbacks = @cancel_callbacks
      @cancel_callbacks = nil
      callbacks&.each do |callback|
        callback.call
      rescue StandardError => e
        logger.warn("prosody: on_cancel callback raised #{e.class}: #{e.message}")
      end
    end

    # Schedules a timer for this event's key. The timer fires once, through the key's queue
    # (never alongside its messages), as a call to `on_timer(context, timer)` on the consumer
    # that owns the key's partition. Scheduling a time that is already scheduled does nothing.
    #
    # @param time [Time] when to fire; kept in whole seconds, rounded half up
    # @return [nil]
    # @raise [ArgumentError] if the time is before 1970 or after 2106-02-07 06:28:15 UTC
    # @raise [TransientError] if the timer store cannot be reached (retried like any failure)
    def schedule(time)
      timer_operation(SCHEDULE, TimerTime.seconds(time))
      nil
    end

    # Replaces every timer of this key with one at `time`.
    # @param time [Time]
    # @return [nil]
    def clear_and_schedule(time)
      timer_operation(CLEAR_AND_SCHEDULE, TimerTime.seconds(time))
      nil
    end

    # Removes this key's timer at `time`, if there is one.
    # @param time [Time]
    # @return [nil]
    def unschedule(time)
      timer_operation(UNSCHEDULE, TimerTime.seconds(time))
      nil
    end

    # Removes every timer of this key.
    # @return [nil]
    def clear_scheduled
      timer_operation(CLEAR, nil)
      nil
    end

    # The times scheduled for this key, earliest first. Inside `on_timer`, the firing timer is
    # not listed unless it was scheduled again.
    # @return [Array<Time>]
    def scheduled
      timer_operation(LIST, nil).map { |seconds| Time.at(seconds) }
    end

    SCHEDULE = 0
    UNSCHEDULE = 1
    CLEAR_AND_SCHEDULE = 2
    CLEAR = 3
    LIST = 4
    private_constant :SCHEDULE, :UNSCHEDULE, :CLEAR_AND_SCHEDULE, :CLEAR, :LIST

    private

    def timer_operation(operation, seconds)
      __timer(operation, seconds).value
    end
  end

  # A timer that came due for a key.
  Timer = Struct.new(:key, :time)
end
