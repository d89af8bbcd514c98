# frozen_string_literal: true

module Prosody
  # One long-lived fiber of a {WorkerPool}. It runs the events its pool hands it and reports
  # each outcome to the engine exactly once, including exceptions that are not StandardErrors.
  # A worker whose handler was stopped retires after reporting the outcome; the pool replaces
  # it.
  #
  # It speaks to its pool only through {WorkerPool#ready} and {WorkerPool#retire}; the pool
  # speaks to it through {#assign}, {#cancel}, {#fiber} and {#task}.
  #
  # @api private
  class Worker
    attr_accessor :task
    attr_reader :fiber

    # @param pool [WorkerPool] the pool that owns this worker
    # @param handler [#on_message, #on_timer] the user's handler
    # @param logger [Logger]
    # @param tags [Hash{Symbol => Object}] the consumer's details added to error reports
    def initialize(pool, handler, logger:, tags:)
      @pool = pool
      @handler = handler
      @logger = logger
      @tags = tags
      @subsystem = tags[:subsystem]
    end

    # Gives this worker its next event; the pool then resumes its fiber (or it runs it at once).
    def assign(event, payload)
      @event = event
      @payload = payload
    end

    # The engine cancelled the running event: runs its on_cancel callbacks, then wakes a fiber
    # waiting in `on_cancel` or, if none, raises the stop exception in the handler's fiber.
    def cancel
      @task.stop unless @running&.__send__(:trigger_cancellation, @logger)
    end

    # What this worker is running, for logs ("key \"k\" at orders/3@42"); nil when idle.
    def running
      payload = @running_payload
      return unless payload

      return "key #{payload.key.inspect} at a timer" if payload.is_a?(Timer)

      "key #{payload.key.inspect} at #{payload.topic}/#{payload.partition}@#{payload.offset}"
    end

    def run
      @fiber = Fiber.current
      loop do
        finished = @running
        @running = @running_payload = nil
        wait_for_event unless @pool.ready(self, finished)
        break unless perform
      end
    ensure
      @pool.retire(self, @running)
    end

    private

    # Waits for the pool's hand-off. A resume that brings no event (the reactor waking this
    # fiber for something stale) must not make it ready twice, or the pool could hand two
    # events to one worker.
    def wait_for_event
      until @event
        signal = Fiber.yield
        raise signal if signal.is_a?(Exception)
      end
    end

    # Returns false when the worker must retire.
    def perform
      # The event is its handler's context too.
      context = @running = @event
      payload = @running_payload = @payload
      @event = @payload = nil
      name = Instrumentation.process_event(payload)
      return outcome(context, payload) unless Instrumentation.listening?(name)

      instrumented(name, context, payload)
    end

    # A subscriber that raises must not cost the event its outcome, nor report it twice.
    def instrumented(name, context, payload)
      details = Instrumentation.event_payload(context, payload)
      continue = nil
      Instrumentation.instrument(name, details) do
        continue = outcome(context, payload, details)
      end
      continue
    rescue StandardError => e
      @logger.warn("prosody: a #{name} subscriber failed: #{e.class}: #{e.message}")
      continue.nil? ? outcome(context, payload) : continue
    end

    # A timer's handler runs in its event's scope (its trigger span and its scheduler's
    # baggage), a message's in the message's. Excise messages reach only handlers that define
    # `on_excise`: the engine skips them for the others.
    def call_handler(context, payload)
      if payload.is_a?(Timer)
        return TraceScope.with(context) { @handler.on_timer(context, payload) }
      end

      TraceScope.with(payload, @subsystem) do
        next @handler.on_excise(context, payload) if payload.excise?

        @handler.on_message(context, payload)
      end
    end

    # Reports the handler's outcome to the engine (and into `details` for instrumentation);
    # returns false when the worker must retire.
    def outcome(context, payload, details = nil)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC, :float_millisecond) if details
      value = call_handler(context, payload)
      Requests.answer(context, value, @logger) if @subsystem
      record(details, started, :success)
      context.__send__(:complete, :success, nil)
      true
    rescue Processor::STOP, SystemExit, SignalException => e
      stopped(context, e) { |outcome| record(details, started, outcome) }
    rescue Exception => e # rubocop:disable Lint/RescueException -- every failure must reach the engine
      record(details, started, nil)
      kind = report(context, payload, e)
      details[:outcome] = kind if details
      true
    end

    # Cancelled (retried by the engine later), or the process is exiting; the worker retires.
    def stopped(context, error)
      if error.is_a?(Processor::STOP)
        yield :cancelled
        context.__send__(:complete, :transient, "cancelled: #{error.message}")
      else
        yield :exited
        exiting(context, error)
      end
      false
    end

    # `exit` (or a signal) in a handler is the process stopping, not a failure to retry: the
    # event stays uncommitted for the partition's next owner, and the exit goes on in the main
    # thread, whose at_exit hooks and ensure blocks then run as they would for any `exit`.
    def exiting(context, error)
      @logger.error("prosody: the handler for key #{context.key.inspect} raised " \
                    "#{error.class} (#{error.message}); leaving its event uncommitted and exiting")
      context.__send__(:complete, :terminal, "#{error.class}: #{error.message}")
      Thread.main.raise(error) unless Thread.current == Thread.main
    end

    def record(details, started, outcome)
      return unless details

      details[:duration] =
        Process.clock_gettime(Process::CLOCK_MONOTONIC, :float_millisecond) - started
      details[:outcome] = outcome
    end

    # Error reporting comes before the outcome, so an attempt's report is out before the engine
    # can start the next attempt; the outcome is reported even if error reporting is cut short.
    # A transient failure is logged here, once per attempt; a permanent one ends the event, and
    # the engine's line for it (with the partition and offset) is enough.
    # Returns the failure's kind, :permanent or :transient.
    def report(context, payload, error)
      permanent = ErrorClassification.permanent?(error)
      kind = permanent ? "permanent" : "transient"
      unless permanent
        @logger.warn("prosody: handler failed for key #{context.key.inspect} (transient): " \
                     "#{error.class}: #{error.message}")
      end
      begin
        Instrumentation.handler_error(context, payload, error, kind, @logger)
        capture(context, payload, error, kind)
      ensure
        context.__send__(:complete, permanent ? :permanent : :transient,
                         "#{error.class}: #{error.message}")
      end
      kind.to_sym
    end

    # Only once `require "prosody/sentry"` has run. An error raised after cancellation is a
    # consequence of the cancellation, so it is not reported.
    def capture(context, payload, error, kind)
      return unless defined?(SentryIntegration)
      return if context.should_cancel? || !SentryIntegration.enabled?

      SentryIntegration.capture_exception(error, failure_details(context, payload, kind))
    rescue StandardError => e
      @logger.warn("prosody: could not report a handler failure to Sentry: " \
                   "#{e.class}: #{e.message}")
    end

    def failure_details(context, payload, kind)
      details = if payload.is_a?(Timer)
                  { key: context.key, timer_time: payload.time.getutc.strftime("%FT%TZ") }
                else
                  { topic: payload.topic, partition: payload.partition, offset: payload.offset,
                    key: payload.key, event_type: event_type(payload) }
                end
      details.merge!(@tags)
      details.merge!(attempt: context.attempt, failure: kind)
    end

    # The payload's `type`, which is what `allowed_events` filters on.
    def event_type(message)
      payload = message.payload
      payload["type"] if payload.is_a?(Hash)
    end
  end
end
