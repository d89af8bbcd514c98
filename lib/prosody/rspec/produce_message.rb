# frozen_string_literal: true

require "json"

module Prosody
  module RSpec
    # A record as it reached the mock broker. `payload` is its JSON decoded (the raw String if
    # it is not JSON); `headers` maps each header name to its value.
    class SentMessage
      attr_reader :topic, :partition, :offset, :key, :payload, :headers

      # @param row [Array] `[topic, partition, offset, key, payload, [[name, value], ...]]`
      # @return [SentMessage]
      # @api private
      def self.from_native(row)
        topic, partition, offset, key, payload, headers = row
        new(topic:, partition:, offset:, key:, payload: decode(payload), headers: headers.to_h)
      end

      # @api private
      def self.decode(payload)
        payload && JSON.parse(payload)
      rescue JSON::ParserError
        payload
      end

      # @param topic [String]
      # @param partition [Integer]
      # @param offset [Integer]
      # @param key [String, nil]
      # @param payload [Object] the decoded JSON
      # @param headers [Hash{String => String}]
      # rubocop:disable Metrics/ParameterLists -- one keyword per field of the record
      def initialize(topic:, partition:, offset:, key:, payload:, headers:)
        @topic = topic
        @partition = partition
        @offset = offset
        @key = key
        @payload = payload
        @headers = headers
      end
      # rubocop:enable Metrics/ParameterLists

      # @return [String] `topic/partition@offset key=… payload=…`, for failure messages
      def to_s = "#{topic}/#{partition}@#{offset} key=#{key.inspect} payload=#{payload.inspect}"
    end

    # The block matcher behind {Helpers#produce_message}: it notes where every partition of the
    # mock broker ends, runs the block, then reads back what was written since and matches each
    # record's topic, key and payload (with `===`, so RSpec's argument matchers work).
    class ProduceMessage
      include ::RSpec::Matchers::Composable if defined?(::RSpec::Matchers::Composable)

      # @param expected [Hash] `topic:`, `key:` and `payload:`, each optional
      def initialize(**expected)
        unknown = expected.keys - %i[topic key payload]
        if unknown.any?
          raise ArgumentError, "produce_message takes topic:, key: and payload:, not " \
                               "#{unknown.join(", ")}"
        end

        @expected = expected
        @count = nil
      end

      # Expects exactly `count` matching records.
      # @param count [Integer]
      # @return [self]
      def exactly(count)
        @count = count
        self
      end

      # Expects one matching record.
      # @return [self]
      def once = exactly(1)

      # @api private
      def supports_block_expectations? = true

      # @api private
      def supports_value_expectations? = false

      # @api private
      def matches?(block)
        @sent = sent_by(block)
        @count ? matching.size == @count : matching.any?
      end

      # @api private
      def does_not_match?(block)
        @sent = sent_by(block)
        matching.empty?
      end

      # @api private
      def failure_message
        "expected the block to produce #{@count ? "exactly #{@count} " : "a "}message " \
          "matching #{describe_expected}, #{sent_summary}"
      end

      # @api private
      def failure_message_when_negated
        "expected the block not to produce a message matching #{describe_expected}, " \
          "#{sent_summary}"
      end

      # @return [String]
      def description = "produce a message matching #{describe_expected}"

      private

      def sent_by(block)
        mark = Native::MockLogMark.now.value
        block.call
        mark.records_since.value.filter_map do |row|
          next if row.first.start_with?(TestConsumer::TOPIC_PREFIX)

          SentMessage.from_native(row)
        end
      end

      def matching
        @sent.select do |message|
          @expected.all? { |field, want| matches_value?(want, message.public_send(field)) }
        end
      end

      def matches_value?(want, actual)
        if respond_to?(:values_match?, true)
          values_match?(want, actual)
        else
          want === actual || want == actual # rubocop:disable Style/CaseEquality -- argument matchers
        end
      end

      def describe_expected
        @expected.empty? ? "anything" : @expected.map { |k, v| "#{k}: #{describe(v)}" }.join(", ")
      end

      def describe(value)
        value.respond_to?(:description) ? value.description : value.inspect
      end

      def sent_summary
        return "but it produced none" if @sent.empty?

        "but it produced #{@sent.size}:\n#{@sent.map { |message| "  #{message}" }.join("\n")}"
      end
    end
  end
end
