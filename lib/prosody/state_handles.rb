# frozen_string_literal: true

module Prosody
  # Handles on the current key's keyed-state collections, returned by {Context#state}.
  #
  # Reads see the handler's own writes at once; other events see them once the handler
  # succeeds (or after {Handle#commit}). A handler that raises leaves nothing behind. Every
  # call waits for the engine without holding the GVL, and in a fiber only that fiber waits.
  # Values are stored as JSON, so `false`, `0` and `""` round-trip; `nil` means absent and
  # cannot be stored ({NullValueError}). Map keys and set members are Strings, ordered by
  # their bytes. A handle raises {PermanentStateError} once its handler returned.
  #
  # A `message_*` collection's handle takes and returns {Prosody::Message}s instead of JSON
  # values: a write keeps only the message's topic, partition and offset, and a read loads the
  # message back from Kafka (its key, payload, timestamp and headers as first received). A
  # read that finds the record gone (retention, compaction, a recreated topic) or cannot read
  # it within `defer_seek_timeout` raises {TransientStateError} naming the collection and the
  # offset. `pop` and `shift` remove the element before loading it, so a handler that rescues
  # that error has still dropped the dangling reference; `clear` and `delete` never load.
  module State
    # What every handle does.
    class Handle
      # Scan keywords, in the order the engine takes them.
      SCAN_OPTIONS = %i[from after to before prefix limit reverse].freeze
      private_constant :SCAN_OPTIONS

      # @api private
      # @param event [Prosody::Context]
      # @param definition [StateDefinition]
      def initialize(event, definition)
        @event = event
        @definition = definition
      end

      # @return [StateDefinition] the collection this handle works on
      attr_reader :definition

      # Makes this collection's writes so far visible to other events now, before the handler
      # finishes (they stay even if it later fails, so they apply at least once).
      # @return [Symbol] :applied, or :no_op when there was nothing to write
      # @example
      #   context.state(COUNT).commit # => :applied
      def commit = call(:commit)

      # Drops this collection's writes not yet committed.
      # @return [Symbol] :applied, or :no_op when there was nothing to drop
      # @example
      #   context.state(COUNT).rollback # => :no_op
      def rollback = call(:rollback)

      # Removes everything the collection holds for this key.
      # @return [nil]
      # @example
      #   context.state(TOTALS).clear
      def clear = call(:clear)

      # @return [String]
      def inspect = "#<#{self.class} #{@definition.name.inspect}>"

      private

      def call(operation, *args)
        @event.__send__(:state_op, @definition.native, operation, args).value
      end

      def present(value)
        if value.nil?
          raise NullValueError,
                "#{@definition.name}: nil means absent and cannot be stored"
        end
        if @definition.message? && !value.is_a?(Prosody::Message)
          raise TypeError, "#{@definition.declared_as} `#{@definition.name}` stores " \
                           "Prosody::Message objects (a message a handler received), " \
                           "got #{value.class}"
        end

        value
      end

      # Runs a scan with the bounds given as keywords (see {Map#each_pair}).
      def scan(operation, bounds)
        unknown = bounds.keys - SCAN_OPTIONS
        if unknown.any?
          raise ArgumentError, "unknown scan option `#{unknown.first}`; " \
                               "expected one of: #{SCAN_OPTIONS.join(", ")}"
        end

        arguments = SCAN_OPTIONS.take(6).map { |option| bounds[option] }
        call(operation, *arguments, bounds[:reverse] ? true : false)
      end
    end

    # One value per key.
    class Value < Handle
      # @return [Object, nil] the value, or nil when none is stored
      # @example
      #   context.state(COUNT).get # => 3
      def get = call(:value_get)

      # @param value [Object] anything JSON can hold, but not nil
      # @return [nil]
      # @raise [NullValueError] for nil
      # @example
      #   context.state(COUNT).set(4)
      def set(value) = call(:value_set, present(value))
    end

    # A map of String keys to values.
    class Map < Handle
      # @param key [String]
      # @return [Object, nil]
      # @example
      #   context.state(TOTALS).get("eur") # => 12
      def get(key) = call(:map_get, key)

      # @param keys [Array<String>]
      # @return [Array<Object, nil>] the values in the same order, nil for absent ones
      # @example
      #   context.state(TOTALS).get_many(%w[eur usd]) # => [12, nil]
      def get_many(keys) = call(:map_get_many, keys.to_a)

      # @param key [String]
      # @return [Boolean]
      # @example
      #   context.state(TOTALS).key?("eur") # => true
      def key?(key) = call(:map_contains, key)

      # @param key [String]
      # @param value [Object] not nil
      # @return [nil]
      # @raise [NullValueError] for nil
      # @example
      #   context.state(TOTALS).set("eur", 12)
      def set(key, value) = call(:map_set, key, present(value))

      # @param key [String]
      # @return [nil]
      # @example
      #   context.state(TOTALS).delete("eur")
      def delete(key) = call(:map_delete, key)

      # Yields entries in key order (or reverse), optionally within bounds: `from:`/`to:`
      # inclusive, `after:`/`before:` exclusive, `prefix:`, and at most `limit:`.
      # @yieldparam key [String]
      # @yieldparam value [Object]
      # @return [self, Enumerator] an Enumerator without a block
      # @example
      #   context.state(TOTALS).each_pair(prefix: "e").to_a # => [["eur", 12]]
      def each_pair(**bounds, &block)
        return enum_for(:each_pair, **bounds) unless block

        scan(:map_scan, bounds).each { |key, value| block.call(key, value) }
        self
      end

      # As {#each_pair}, yielding keys only.
      # @yieldparam key [String]
      # @return [self, Enumerator]
      # @example
      #   context.state(TOTALS).each_key(reverse: true).first # => "usd"
      def each_key(**bounds, &block)
        return enum_for(:each_key, **bounds) unless block

        scan(:map_scan, bounds).each { |key, _| block.call(key) }
        self
      end
    end

    # A set of Strings.
    class Set < Handle
      # @param member [String]
      # @return [nil]
      # @example
      #   context.state(SEEN).add("order-7")
      def add(member) = call(:set_add, member)

      # @param member [String]
      # @return [Boolean]
      # @example
      #   context.state(SEEN).include?("order-7") # => true
      def include?(member) = call(:set_contains, member)

      # @param member [String]
      # @return [nil]
      # @example
      #   context.state(SEEN).delete("order-7")
      def delete(member) = call(:set_delete, member)

      # Yields members in byte order (or reverse), with the bounds of {Map#each_pair}.
      # @yieldparam member [String]
      # @return [self, Enumerator]
      # @example
      #   context.state(SEEN).each(limit: 2).to_a # => ["order-1", "order-7"]
      def each(**bounds, &block)
        return enum_for(:each, **bounds) unless block

        scan(:set_scan, bounds).each(&block)
        self
      end
    end

    # A double-ended queue; with `capacity:`, a push drops elements from the other end.
    class Deque < Handle
      # Appends at the back.
      # @param value [Object] not nil
      # @return [nil]
      # @example
      #   context.state(RECENT).push({ "id" => 7 })
      def push(value) = call(:deque_push, present(value))

      # Prepends at the front.
      # @param value [Object] not nil
      # @return [nil]
      # @example
      #   context.state(RECENT).unshift(1)
      def unshift(value) = call(:deque_unshift, present(value))

      # Removes and returns the back element.
      # @return [Object, nil] nil when empty
      # @example
      #   context.state(RECENT).pop # => {"id"=>7}
      def pop = call(:deque_pop)

      # Removes and returns the front element.
      # @return [Object, nil] nil when empty
      # @example
      #   context.state(RECENT).shift # => 1
      def shift = call(:deque_shift)

      # @param index [Integer] from the front; negative counts from the back (-1 is the last)
      # @return [Object, nil] nil when out of range
      # @example
      #   context.state(RECENT).get(-1)
      def get(index)
        unless index.is_a?(Integer)
          raise TypeError,
                "deque index must be an Integer, got #{index.inspect}"
        end

        call(:deque_get, index)
      end

      # @return [Object, nil]
      # @example
      #   context.state(RECENT).first
      def first = call(:deque_first)

      # @return [Object, nil]
      # @example
      #   context.state(RECENT).last
      def last = call(:deque_last)

      # @return [Integer] how many elements it holds (expired ones count until passed)
      # @example
      #   context.state(RECENT).length # => 2
      def length = call(:deque_length)

      # Yields elements from the front (or the back with `reverse: true`), at most `limit:`.
      # @yieldparam value [Object]
      # @return [self, Enumerator]
      # @example
      #   context.state(RECENT).each.to_a
      def each(limit: nil, reverse: false, &block)
        return enum_for(:each, limit:, reverse:) unless block

        scan(:deque_scan, { limit:, reverse: }).each(&block)
        self
      end
    end

    # Handle class per definition kind.
    HANDLES = { value: Value, map: Map, set: Set, deque: Deque }.freeze
  end
end
