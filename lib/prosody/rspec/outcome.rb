# frozen_string_literal: true

require "timeout"

module Prosody
  module RSpec
    # What happened to a delivered message or a fired timer: `status` is
    # - `:handled`: an attempt returned (after `attempts - 1` retries);
    # - `:failed`: given up: a permanent error, or any error in best-effort mode;
    # - `:dead_lettered`: written to the failure topic (low-latency mode);
    # - `:retrying`: transient failures used up `max_retries`, and pipeline mode goes on
    #   retrying in place, because the failure rate over `defer_failure_window` is at or above
    #   `defer_failure_threshold` (as it is for a lone failing message: every attempt failed);
    # - `:deferred`: the same, but failures were rare enough that pipeline mode parked the
    #   message in its key's backlog, to retry after `defer_base`, and the partition moved on.
    # `error` is the last exception raised, if any.
    Outcome = Struct.new(:status, :attempts, :error, keyword_init: true) do
      def handled? = status == :handled
      def failed? = status == :failed
      def dead_lettered? = status == :dead_lettered
      def retrying? = status == :retrying
      def deferred? = status == :deferred
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
        @started = 0
        observe_excise if handler.respond_to?(:on_excise)
      end

      # Attempts started so far, of every kind.
      attr_reader :started

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

      # Only for a handler that takes excise records, so the client sees the same choice the
      # handler made; an excise settles as a message.
      def observe_excise
        define_singleton_method(:on_excise) do |context, message|
          watch(:message) { @handler.on_excise(context, message) }
        end
      end

      def watch(kind)
        @started += 1
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
