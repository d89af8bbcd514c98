# frozen_string_literal: true

module Prosody
  # One long-lived fiber of a Processor's pool. It runs events handed to it directly by the
  # dispatcher and parks itself (with Fiber.yield) when there is nothing to do. A worker whose
  # handler was stopped retires after reporting the outcome; the processor replaces it.
  #
  # @api private
  class Worker
    attr_accessor :task
    attr_reader :fiber

    def initialize(processor)
      @processor = processor
    end

    def assign(context, message)
      @context = context
      @message = message
    end

    def run
      @fiber = Fiber.current
      loop do
        wait_for_event unless @processor.next_event(self)
        break unless perform
      end
    ensure
      @processor.retire(self)
    end

    private

    # Parks once, then waits for the dispatcher's hand-off. A resume that brings no event (the
    # reactor waking this fiber for something stale) must not park it twice, or the dispatcher
    # could hand two events to one worker.
    def wait_for_event
      @processor.park(self)
      until @context
        signal = Fiber.yield
        raise signal if signal.is_a?(Exception)
      end
    end

    # Returns false when the worker must retire.
    def perform
      context = @context
      message = @message
      @context = @message = nil
      @processor.busy(context, self)
      outcome(context) { @processor.run_handler(context, message) }
    ensure
      @processor.done(context) if context
    end

    def outcome(context)
      yield
      context.__complete(0, nil)
      true
    rescue Processor::STOP => e
      context.__complete(1, "cancelled: #{e.message}")
      false
    rescue Exception => e # rubocop:disable Lint/RescueException -- every failure must reach the engine
      report(context, e)
      true
    end

    def report(context, error)
      permanent = ErrorClassification.permanent?(error)
      kind = permanent ? "permanent" : "transient"
      @processor.logger.warn("prosody: handler failed for key #{context.key.inspect} (#{kind}): " \
                             "#{error.class}: #{error.message}")
      context.__complete(permanent ? 2 : 1, "#{error.class}: #{error.message}")
    end
  end
end
