# frozen_string_literal: true

require "async/notification"

module Prosody
  # What a handler may ask while it runs: whether to stop, and (for the message's key) timers.
  # Instances come from the engine; one per event.
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

    # Timer operations arrive with persistent timers; until then they say so plainly.
    %i[schedule clear_and_schedule unschedule].each do |name|
      define_method(name) do |_time|
        raise NotImplementedError,
              "Prosody::Context##{name} is not available yet: timers are not implemented"
      end
    end

    %i[clear_scheduled scheduled].each do |name|
      define_method(name) do
        raise NotImplementedError,
              "Prosody::Context##{name} is not available yet: timers are not implemented"
      end
    end
  end

  # A timer that came due for a key.
  Timer = Struct.new(:key, :time)
end
