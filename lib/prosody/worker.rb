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
      outcome(context, message) { @processor.run_handler(context, message) }
    ensure
      @processor.done(context) if context
    end

    def outcome(context, event)
      yield
      context.__complete(0, nil)
      true
    rescue Processor::STOP => e
      context.__complete(1, "cancelled: #{e.message}")
      false
    rescue Exception => e # rubocop:disable Lint/RescueException -- every failure must reach the engine
      report(context, event, e)
      true
    end

    # Error reporting comes before the outcome, so an attempt's report is out before the engine
    # can start the next attempt; the outcome is reported even if error reporting is cut short.
    def report(context, event, error)
      permanent = ErrorClassification.permanent?(error)
      kind = permanent ? "permanent" : "transient"
      @processor.logger.warn("prosody: handler failed for key #{context.key.inspect} (#{kind}): " \
                             "#{error.class}: #{error.message}")
      begin
        capture(context, event, error, kind)
      ensure
        context.__complete(permanent ? 2 : 1, "#{error.class}: #{error.message}")
      end
    end

    # Only once `require "prosody/sentry"` has run. An error raised after cancellation is a
    # consequence of the cancellation, so it is not reported.
    def capture(context, event, error, kind)
      return unless defined?(SentryIntegration)
      return if context.should_cancel? || !SentryIntegration.enabled?

      SentryIntegration.capture_exception(error, failure_details(context, event, kind))
    rescue StandardError => e
      @processor.logger.warn("prosody: could not report a handler failure to Sentry: " \
                             "#{e.class}: #{e.message}")
    end

    def failure_details(context, event, kind)
      details = if event.is_a?(Timer)
                  { key: context.key, timer_time: event.time.getutc.strftime("%FT%TZ") }
                else
                  { topic: event.topic, partition: event.partition, offset: event.offset,
                    key: event.key, event_type: event_type(event) }
                end
      details.merge!(@processor.tags)
      details.merge!(attempt: context.attempt, failure: kind)
    end

    # The payload's `type`, which is what `allowed_events` filters on.
    def event_type(message)
      payload = message.payload
      payload["type"] if payload.is_a?(Hash)
    end
  end
end
