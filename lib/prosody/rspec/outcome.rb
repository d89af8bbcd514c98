# frozen_string_literal: true

require "timeout"

module Prosody
  module RSpec
    # What happened to a delivered message or a fired timer: `status` is
    # - `:handled`: an attempt returned (after `attempts - 1` retries);
    # - `:failed`: given up: a permanent error, or any error in best-effort mode;
    # - `:dead_lettered`: written to the failure topic (low-latency mode);
    # - `:retrying`: transient failures used up `max_retries`, and pipeline mode keeps the
    #   event: it retries in place or defers the key, whichever the failure rate over
    #   `defer_failure_window` calls for (a lone failing key in a test is retried in place,
    #   since every recent attempt failed). Both keep it uncommitted or in a backlog, so no
    #   separate `deferred?` is reported.
    # `error` is the last exception raised, if any.
    Outcome = Struct.new(:status, :attempts, :error, keyword_init: true) do
      def handled? = status == :handled
      def failed? = status == :failed
      def dead_lettered? = status == :dead_lettered
      def retrying? = status == :retrying
    end

    # Wraps the handler under test to see each attempt, and settles an {Outcome} per message
    # and per timer once the pipeline is done with it. Events run one at a time per key and the
    # helpers wait for each before the next, so one attempt count per kind is enough.
    # @api private
    class Observer
      def initialize(handler, mode:, max_retries:)
        @handler = handler
        @mode = mode
        @max_retries = max_retries
        @attempts = { message: 0, timer: 0 }
        @outcomes = { message: Queue.new, timer: Queue.new }
      end

      def on_message(context, message)
        watch(:message) { @handler.on_message(context, message) }
      end

      def on_timer(context, timer)
        watch(:timer) { @handler.on_timer(context, timer) }
      end

      # @param kind [Symbol] `:message` or `:timer`
      # @return [Outcome, nil] nil if nothing settled within `seconds`
      def outcome(seconds, kind = :message)
        Timeout.timeout(seconds) { @outcomes.fetch(kind).pop }
      rescue Timeout::Error
        nil
      end

      private

      def watch(kind)
        attempts = (@attempts[kind] += 1)
        yield
        settle(kind, :handled)
      rescue Processor::STOP
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- the pipeline decides; we watch
        settle(kind, status_after(e, attempts), e)
        raise
      end

      def status_after(error, attempts)
        final = @mode == :best_effort || ErrorClassification.permanent?(error) ||
                attempts > @max_retries
        return nil unless final
        return :dead_lettered if @mode == :low_latency
        return :failed if @mode == :best_effort || ErrorClassification.permanent?(error)

        :retrying
      end

      def settle(kind, status, error = nil)
        return unless status

        @outcomes.fetch(kind) << Outcome.new(status:, attempts: @attempts[kind], error:)
        @attempts[kind] = 0
      end
    end
  end
end
