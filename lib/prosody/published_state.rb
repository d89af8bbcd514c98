# frozen_string_literal: true

module Prosody
  # Read-only views of the keyed state another subsystem publishes, from {Client#state}. Any
  # client can read them, subscribed or not. They see committed data only, and each answer is
  # kept for the definition's `read_cache` seconds (default 5; `false` reads every time), so a
  # write can take that long to show. Every method takes the Kafka key first.
  module Published
    # Answers kept per client: at most this many, all dropped when full.
    CACHE_ENTRIES = 10_000

    # @api private
    # A client's cache of published reads.
    class Cache
      def initialize
        @entries = {}
        @lock = Mutex.new
      end

      # The cached answer for `key`, or the block's, kept for `seconds`.
      def fetch(key, seconds)
        return yield unless seconds

        now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        hit = @lock.synchronize { @entries[key] }
        return hit[1] if hit && hit[0] > now

        value = yield
        @lock.synchronize do
          @entries.clear if @entries.size >= CACHE_ENTRIES
          @entries[key] = [now + seconds, value]
        end
        value
      end
    end

    # What every published view does.
    class View
      # @api private
      # @param native [Prosody::Native::Client] the reading client
      # @param cache [Cache]
      # @param subsystem [String] the publishing subsystem
      # @param definition [StateDefinition] a published collection
      def initialize(native, cache, subsystem, definition)
        @native = native
        @cache = cache
        @subsystem = subsystem
        @definition = definition
        @seconds = definition.options.fetch(:read_cache, 5)
      end

      # @return [String]
      def inspect = "#<#{self.class} #{@subsystem}/#{@definition.name}>"

      private

      def read(key, operation, *args)
        key = Text.check(key, "key")
        @cache.fetch([@subsystem, @definition, key, operation, args], @seconds) do
          @native.state_read(@subsystem, @definition.native, key, operation, args).value
        end
      end

      def scan(key, operation, bounds)
        unknown = bounds.keys - %i[from after to before prefix limit reverse]
        raise ArgumentError, "unknown scan option `#{unknown.first}`" if unknown.any?

        arguments = %i[from after to before prefix limit].map { |option| bounds[option] }
        read(key, operation, *arguments, bounds[:reverse] ? true : false)
      end
    end

    # A published value.
    class Value < View
      # @param key [String] the Kafka key
      # @return [Object, nil]
      # @example
      #   client.state("billing", TOTAL).get("customer-7") # => 120
      def get(key) = read(key, :value_get)
    end

    # A published map.
    class Map < View
      # @param key [String] the Kafka key
      # @param map_key [String]
      # @return [Object, nil]
      # @example
      #   client.state("billing", TOTALS).get("customer-7", "eur") # => 12
      def get(key, map_key) = read(key, :map_get, map_key)

      # @param key [String]
      # @param map_keys [Array<String>]
      # @return [Array<Object, nil>]
      # @example
      #   client.state("billing", TOTALS).get_many("customer-7", %w[eur usd]) # => [12, nil]
      def get_many(key, map_keys) = read(key, :map_get_many, map_keys.to_a)

      # @param key [String]
      # @param map_key [String]
      # @return [Boolean]
      # @example
      #   client.state("billing", TOTALS).key?("customer-7", "eur") # => true
      def key?(key, map_key) = read(key, :map_contains, map_key)

      # Entries in key order, with the bounds of {State::Map#each_pair}.
      # @param key [String]
      # @return [Array<Array(String, Object)>]
      # @example
      #   client.state("billing", TOTALS).each_pair("customer-7", prefix: "e")
      def each_pair(key, **bounds) = scan(key, :map_scan, bounds)
    end

    # A published set.
    class Set < View
      # @param key [String]
      # @param member [String]
      # @return [Boolean]
      # @example
      #   client.state("billing", SEEN).include?("customer-7", "order-1") # => true
      def include?(key, member) = read(key, :set_contains, member)

      # Members in order, with the bounds of {State::Map#each_pair}.
      # @param key [String]
      # @return [Array<String>]
      # @example
      #   client.state("billing", SEEN).each("customer-7", limit: 10)
      def each(key, **bounds) = scan(key, :set_scan, bounds)
    end

    # A published deque.
    class Deque < View
      # @param key [String]
      # @param index [Integer] negative counts from the back
      # @return [Object, nil]
      # @example
      #   client.state("billing", RECENT).get("customer-7", -1)
      def get(key, index) = read(key, :deque_get, Integer(index))

      # @param key [String]
      # @return [Integer]
      # @example
      #   client.state("billing", RECENT).length("customer-7") # => 3
      def length(key) = read(key, :deque_length)

      # @param key [String]
      # @return [Object, nil]
      # @example
      #   client.state("billing", RECENT).first("customer-7")
      def first(key) = read(key, :deque_first)

      # @param key [String]
      # @return [Object, nil]
      # @example
      #   client.state("billing", RECENT).last("customer-7")
      def last(key) = read(key, :deque_last)

      # Elements from the front (or the back), at most `limit:`.
      # @param key [String]
      # @return [Array<Object>]
      # @example
      #   client.state("billing", RECENT).each("customer-7", reverse: true)
      def each(key, limit: nil,
               reverse: false)
        scan(key, :deque_scan, { limit:, reverse: })
      end
    end

    # View class per definition kind.
    VIEWS = { value: Value, map: Map, set: Set, deque: Deque }.freeze

    # {Client#state}: reading published state.
    module Reading
      # A read-only view of `subsystem`'s published collection `definition`.
      # @param subsystem [String] the publishing client's `subsystem:`
      # @param definition [StateDefinition] declared with `published: true`
      # @return [Published::Value, Published::Map, Published::Set, Published::Deque]
      # @raise [TypeError] when `definition` is not a {StateDefinition}
      # @raise [ArgumentError] for a `message_*` definition, which cannot be published
      # @example
      #   client.state("billing", TOTALS).get("customer-7", "eur")
      def state(subsystem, definition)
        unless definition.is_a?(StateDefinition)
          raise TypeError,
                "expected a Prosody::StateDefinition, got #{definition.inspect}"
        end

        if definition.message?
          raise ArgumentError, "#{definition.declared_as} `#{definition.name}` cannot be read " \
                               "from another client: message collections are never published"
        end

        @published_cache ||= Cache.new
        VIEWS.fetch(definition.kind).new(local_native, @published_cache,
                                         Text.check(subsystem, "subsystem"), definition)
      end
    end
  end
end
