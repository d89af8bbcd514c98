# frozen_string_literal: true

require "async/notification"

module Prosody
  # What a running handler asked for through {Context#on_cancel}: callbacks to run and fibers to
  # wake when the engine cancels its event. A worker makes one per event, only when the handler
  # calls `on_cancel`.
  # @api private
  class Cancellation
    def initialize
      @callbacks = []
      @waiter = nil
    end

    # Registers `callback` for the next {#trigger}.
    def add(callback)
      @callbacks << callback
    end

    # Suspends the calling fiber until {#trigger} runs.
    def wait
      (@waiter ||= Async::Notification.new).wait
    end

    # Runs each registered callback once (logging any that raises), then wakes the waiting
    # fibers. Returns true if one was waiting: the handler is then left to finish on its own.
    def trigger(logger)
      callbacks = @callbacks
      @callbacks = []
      callbacks.each do |callback|
        callback.call
      rescue StandardError => e
        logger.warn("prosody: on_cancel callback raised #{e.class}: #{e.message}")
      end
      return false unless @waiter

      @waiter.signal
      true
    end
  end
end
