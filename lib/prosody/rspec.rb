# frozen_string_literal: true

require "prosody"
require "securerandom"
require "timeout"

module Prosody
  # Test helpers that run a handler through the real pipeline (retries, error classification,
  # failure modes) on the in-process mock broker, with nothing to sleep on in a spec:
  #
  #   require "prosody/rspec"
  #
  #   RSpec.describe OrdersHandler do
  #     include Prosody::RSpec::Helpers
  #
  #     it "posts the order" do
  #       outcome = deliver_message(described_class.new, key: "order-1", payload: { "id" => 1 })
  #       expect(outcome).to be_handled
  #     end
  #   end
  #
  # Every delivery uses a topic and a consumer group of its own, so examples cannot see each
  # other's messages.
  module RSpec
    # What happened to a delivered message: `status` is
    # - `:handled`: an attempt returned (after `attempts - 1` retries);
    # - `:failed`: given up: a permanent error, or any error in best-effort mode;
    # - `:dead_lettered`: written to the failure topic (low-latency mode);
    # - `:retrying`: transient failures used up `max_retries`, and pipeline mode goes on
    #   retrying (or defers the key).
    # `error` is the last exception raised, if any.
    Outcome = Struct.new(:status, :attempts, :error, keyword_init: true) do
      def handled? = status == :handled
      def failed? = status == :failed
      def dead_lettered? = status == :dead_lettered
      def retrying? = status == :retrying
    end

    # Wraps the handler under test to see each attempt at the delivered message.
    # @api private
    class Observer
      def initialize(handler, mode:, max_retries:)
        @handler = handler
        @mode = mode
        @max_retries = max_retries
        @attempts = 0
        @outcome = Queue.new
      end

      def on_message(context, message)
        @attempts += 1
        @handler.on_message(context, message)
        settle(:handled)
      rescue Processor::STOP
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- the pipeline decides; we watch
        settle(status_after(e), e)
        raise
      end

      def on_timer(context, timer)
        @handler.on_timer(context, timer)
      end

      # @return [Outcome, nil] nil if nothing settled within `seconds`
      def outcome(seconds)
        Timeout.timeout(seconds) { @outcome.pop }
      rescue Timeout::Error
        nil
      end

      private

      def status_after(error)
        final = @mode == :best_effort || ErrorClassification.permanent?(error) ||
                @attempts > @max_retries
        return nil unless final
        return :dead_lettered if @mode == :low_latency
        return :failed if @mode == :best_effort || ErrorClassification.permanent?(error)

        :retrying
      end

      def settle(status, error = nil)
        @outcome << Outcome.new(status:, attempts: @attempts, error:) if status
      end
    end

    # Included into example groups: see {RSpec}.
    module Helpers
      # Fast retries, so a spec of a failing handler takes milliseconds.
      FAST_RETRIES = { retry_base: 0.001, max_retry_delay: 0.005 }.freeze

      # Sends one message to a fresh topic on the mock broker, runs `handler` on it through a
      # consumer, and returns once the pipeline has settled it.
      #
      # @param handler [#on_message, #on_timer, Class] the handler, or a class to instantiate
      # @param key [String]
      # @param payload [Object] any JSON value
      # @param timeout [Numeric] seconds to wait before failing the example
      # @param options [Hash] client options (`mode:`, `max_retries:`, `failure_topic:`, ...)
      # @return [Outcome]
      # @raise [RuntimeError] if the message was not settled within `timeout`
      def deliver_message(handler, key:, payload:, timeout: 10, **options)
        handler = handler.new if handler.is_a?(Class)
        topic = "prosody-spec-#{SecureRandom.hex(6)}"
        # A source system other than the group, or the consumer would skip its own sends.
        client = Client.new(mock: true, probe_port: false, group_id: topic,
                            subscribed_topics: topic, source_system: "prosody-rspec",
                            **FAST_RETRIES, **options)
        observer = Observer.new(handler, mode: client.configuration[:mode],
                                         max_retries: client.configuration[:max_retries])
        client.subscribe(observer)
        client.send_message(topic, key, payload)
        observer.outcome(timeout) || raise("#{key.inspect} was not handled within #{timeout}s")
      ensure
        client&.close
      end
    end
  end
end
