# frozen_string_literal: true

require "prosody"
require_relative "rspec/outcome"
require_relative "rspec/test_consumer"
require_relative "rspec/produce_message"

module Prosody
  # Test helpers that run a handler through the real pipeline (retries, error classification,
  # failure modes, timers) on the in-process mock broker, with nothing to sleep on in a spec:
  #
  #   require "prosody/rspec"
  #
  #   RSpec.describe OrdersHandler do
  #     include Prosody::RSpec::Helpers
  #
  #     it "posts the order" do
  #       expect { deliver_message(described_class, key: "order-1", payload: { "id" => 1 }) }
  #         .to produce_message(topic: "invoices", key: "order-1")
  #     end
  #   end
  #
  # Every delivery uses a topic and a consumer group of its own, so examples cannot see each
  # other's messages.
  module RSpec
    # Included into example groups: see {RSpec}.
    module Helpers
      # Sends one message to a fresh topic on the mock broker, runs `handler` on it through a
      # consumer, and returns once the pipeline has settled it.
      #
      # @example
      #   expect(deliver_message(OrdersHandler, key: "o-1", payload: { "id" => 1 })).to be_handled
      # @param handler [#on_message, #on_timer, Class] the handler, or a class to instantiate
      # @param key [String]
      # @param payload [Object] any JSON value
      # @param timeout [Numeric] seconds to wait before failing the example
      # @param options [Hash] client options (`mode:`, `max_retries:`, `failure_topic:`, ...)
      # @return [Outcome]
      # @raise [RuntimeError] if the message was not settled within `timeout`
      def deliver_message(handler, key:, payload:, timeout: 10, **options)
        with_test_consumer(handler, **options) do |consumer|
          consumer.deliver(key:, payload:, timeout:)
        end
      end

      # Subscribes `handler` on the mock broker to a topic and group of its own for the block,
      # to deliver several messages or fire timers (see {TestConsumer}), and closes it after.
      #
      # @example
      #   with_test_consumer(ReminderHandler) do |consumer|
      #     consumer.deliver(key: "k", payload: {})
      #     consumer.fire_timers("k")
      #   end
      # @param handler [#on_message, #on_timer, Class]
      # @param options [Hash] client options
      # @yieldparam consumer [TestConsumer]
      # @return [Object] the block's value
      def with_test_consumer(handler, **options)
        consumer = TestConsumer.new(handler, **options)
        yield consumer
      ensure
        consumer&.close
      end

      # A block matcher: the block must produce a record matching each given field on the mock
      # broker (read back from it, so only what Kafka acknowledged counts). Fields are matched
      # with `===`, so `hash_including`, `a_string_starting_with` and the like work; the
      # payload is the decoded JSON. Records on the helpers' own input topics are left out.
      #
      # @example
      #   expect { client.send_message("audit", "k", { "at" => 1 }) }
      #     .to produce_message(topic: "audit", payload: hash_including("at" => 1))
      # @param expected [Hash] `topic:`, `key:`, `payload:`; all optional
      # @return [ProduceMessage] chain `.once` or `.exactly(n)` to count
      def produce_message(**expected)
        ProduceMessage.new(**expected)
      end

      # Every record on `topic` of the mock broker so far, by partition and offset.
      #
      # @example
      #   expect(sent_messages("audit").map(&:key)).to eq(["k"])
      # @param topic [String]
      # @return [Array<SentMessage>]
      def sent_messages(topic)
        Native.mock_topic_records(topic).value.map { |row| SentMessage.from_native(row) }
      end
    end
  end
end
