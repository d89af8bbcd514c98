# frozen_string_literal: true

require "securerandom"

module Prosody
  module RSpec
    # A handler under test, subscribed on the mock broker to a topic and group of its own.
    # Built by {Helpers#with_test_consumer}, which closes it when its block ends.
    #
    # @example A timer an hour ahead, fired at once
    #   with_test_consumer(ReminderHandler) do |consumer|
    #     consumer.deliver(key: "order-1", payload: { "remind_in" => 3600 })
    #     expect(consumer.fire_timers("order-1")).to all(be_handled)
    #   end
    class TestConsumer
      # The prefix of the topics test consumers read from; {Helpers#produce_message} leaves
      # those topics out, since the helpers wrote them.
      TOPIC_PREFIX = "prosody-spec-"

      # Fast retries, so a spec of a failing handler takes milliseconds, and a short drain, so
      # closing a consumer whose handler pipeline mode keeps retrying takes a second, not 30.
      TEST_OPTIONS = { retry_base: 0.001, max_retry_delay: 0.005, shutdown_timeout: 1 }.freeze

      # @return [String] the topic this consumer reads and {#deliver} writes to
      attr_reader :topic
      # @return [Prosody::Client] the subscribed client
      attr_reader :client

      # @param handler [#on_message, #on_timer, Class] the handler, or a class to instantiate
      # @param options [Hash] client options (`mode:`, `max_retries:`, `failure_topic:`, ...)
      def initialize(handler, **options)
        handler = handler.new if handler.is_a?(Class)
        @topic = "#{TOPIC_PREFIX}#{SecureRandom.hex(6)}"
        # A source system other than the group, or the consumer would skip its own sends.
        @client = Client.new(mock: true, probe_port: false, group_id: @topic,
                             subscribed_topics: @topic, source_system: "prosody-rspec",
                             **TEST_OPTIONS, **options)
        config = @client.configuration
        @observer = Observer.new(handler, mode: config[:mode], max_retries: config[:max_retries])
        @client.subscribe(@observer)
      end

      # Sends one message to {#topic} and returns once the pipeline has settled it.
      #
      # @param key [String]
      # @param payload [Object] any JSON value
      # @param timeout [Numeric] seconds to wait
      # @return [Outcome]
      # @raise [RuntimeError] if the message was not settled within `timeout`
      def deliver(key:, payload:, timeout: 10)
        @client.send_message(@topic, key, payload)
        settled(key, timeout)
      end

      # Sends an excise record for `key` to {#topic} and returns once the pipeline has settled
      # it in the handler's `on_excise`.
      #
      # @param key [String]
      # @param timeout [Numeric] seconds to wait
      # @return [Outcome]
      # @raise [ArgumentError] if the handler does not define `on_excise` (it would never see it)
      # @raise [RuntimeError] if the excise was not settled within `timeout`
      def excise(key:, timeout: 10)
        unless @observer.respond_to?(:on_excise)
          raise ArgumentError, "the handler does not define on_excise, so it never sees excises"
        end

        @client.excise(@topic, key)
        settled(key, timeout)
      end

      # Fires every timer `key` has scheduled (by handlers of this consumer) now, as if due:
      # `on_timer` runs through the pipeline with the timer's own time. Returns once each has
      # settled, in the order they ran.
      #
      # @param key [String]
      # @param timeout [Numeric] seconds to wait for each
      # @return [Array<Outcome>] one per timer fired; empty if the key had none
      # @raise [RuntimeError] if a fired timer was not settled within `timeout`
      def fire_timers(key, timeout: 10)
        Array.new(@client.mock_fire_timers(key)) do
          @observer.outcome(timeout, :timer) ||
            raise("a timer of #{key.inspect} was not handled within #{timeout}s")
        end
      end

      # Unsubscribes and closes the client.
      # @return [nil]
      def close
        @client.close
        nil
      end

      private

      # The outcome of what was just sent for `key`; `:deferred` once pipeline mode parked it.
      def settled(key, timeout)
        outcome = @observer.outcome(timeout)
        raise "#{key.inspect} was not handled within #{timeout}s" unless outcome
        return outcome unless outcome.retrying?

        return outcome unless deferred?(key, timeout)

        Outcome.new(status: :deferred, attempts: outcome.attempts, error: outcome.error)
      end

      # After the last in-place attempt failed, pipeline mode either parks the message in its
      # key's backlog or starts the next attempt (after a back-off of milliseconds here): wait
      # for whichever comes first.
      def deferred?(key, timeout)
        started = @observer.started
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
        loop do
          return true if @client.mock_deferred?(key)
          return false if @observer.started > started ||
                          Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

          sleep 0.002
        end
      end
    end
  end
end
