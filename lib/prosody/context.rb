# frozen_string_literal: true

module Prosody
  # What a handler may ask while it runs: whether to stop, and (for the message's key) timers.
  # Instances come from the engine; one per event.
  class Context
    # Registers a block to run when the engine cancels this handler (timeout, rebalance or
    # shutdown), just before `Async::Stop` is raised in the handler's fiber.
    #
    # @example Stop a long loop cleanly
    #   context.on_cancel { @aborted = true }
    # @yield called at most once, on the processor thread
    # @return [self]
    def on_cancel(&block)
      raise ArgumentError, "on_cancel needs a block" unless block

      (@cancel_callbacks ||= []) << block
      self
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
