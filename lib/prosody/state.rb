# frozen_string_literal: true

# Keyed-state declarations: {Prosody::StateDefinition} and the module functions that build them.
module Prosody
  # A keyed-state collection's declaration: its kind, name and options, checked by the engine
  # when it is built and frozen. Build one with {Prosody.value}, {Prosody.map}, {Prosody.set}
  # or {Prosody.deque} (JSON values), or {Prosody.message_value}, {Prosody.message_map} or
  # {Prosody.message_deque} (Kafka messages, kept by reference); register it with the client's
  # `state_collections:` option, and reach the current key's collection with {Context#state}.
  #
  # @example
  #   TOTALS = Prosody.map("totals", ttl: 86_400)
  #   TOTALS.kind # => :map
  #   Prosody.message_deque("window").message? # => true
  class StateDefinition
    # What each option takes: a check of the Ruby value, and how to say it. The engine checks
    # ranges.
    OPTIONS = {
      ttl: [->(v) { v.is_a?(Integer) }, "an Integer"],
      capacity: [->(v) { v.is_a?(Integer) }, "an Integer"],
      keyset_limit: [->(v) { v.is_a?(Integer) }, "an Integer"],
      read_uncommitted: [->(v) { [true, false].include?(v) }, "true or false"],
      published: [->(v) { [true, false].include?(v) }, "true or false"],
      read_cache: [->(v) { v == false || (v.is_a?(Numeric) && v.positive?) },
                   "a positive number of seconds or false"]
    }.freeze
    private_constant :OPTIONS

    # Which options apply to which kind; the engine checks ranges.
    KIND_OPTIONS = {
      value: %i[ttl read_uncommitted published read_cache],
      map: %i[ttl keyset_limit read_uncommitted published read_cache],
      set: %i[ttl keyset_limit read_uncommitted published read_cache],
      deque: %i[ttl capacity read_uncommitted published read_cache]
    }.freeze
    private_constant :KIND_OPTIONS

    # Options a message collection does not take, and why: another client could not reload
    # its messages, since it reads Kafka through no consumer of the owning group.
    MESSAGE_REFUSED = %i[published read_cache].freeze
    private_constant :MESSAGE_REFUSED

    # @return [Symbol] :value, :map, :set or :deque
    attr_reader :kind
    # @return [String] the collection's name, unique per client
    attr_reader :name
    # @return [Hash{Symbol => Object}] the options given, frozen
    attr_reader :options
    # @return [Symbol] :json for JSON values, :message for Kafka messages kept by reference
    attr_reader :payload
    # @api private
    # @return [Prosody::Native::StateDefinition]
    attr_reader :native

    # @api private
    # Checks a client's `state_collections:` option.
    # @param collections [Array<StateDefinition>]
    # @return [Array<StateDefinition>]
    # @raise [TypeError] naming what is not a definition
    def self.check_all(collections)
      unless collections.is_a?(Array)
        raise TypeError,
              "state_collections must be an Array, got #{collections.class}"
      end

      collections.each do |definition|
        next if definition.is_a?(StateDefinition)

        raise TypeError, "state_collections takes Prosody.value, .map, .set, .deque or " \
                         "message_* definitions, got #{definition.inspect}"
      end
    end

    # @api private
    # @param kind [Symbol] :value, :map, :set or :deque
    # @param name [String]
    # @param payload [Symbol] :json, or :message for a `message_*` collection
    # @param options [Hash] see {Prosody.value}
    # @raise [ArgumentError] for an unknown option or a value out of range, naming it
    # @raise [TypeError] for an option of the wrong type, naming it
    def initialize(kind, name, payload: :json, **options)
      unless name.is_a?(String)
        raise TypeError,
              "state collection name must be a String, got #{name.class}"
      end

      @kind = kind
      @payload = payload
      check(name, options)
      @name = name.dup.freeze
      @options = options.dup.freeze
      @native = Native::StateDefinition.build(
        kind, @name, options[:ttl], options[:capacity], options[:keyset_limit],
        options.fetch(:read_uncommitted, false), options.fetch(:published, false), message?
      )
      freeze
    end

    # @return [Boolean] whether the collection holds Kafka messages (kept by reference)
    def message? = payload == :message

    # How the declaration is spelled: `deque`, or `message_deque` for a message collection.
    # @return [String]
    def declared_as = message? ? "message_#{kind}" : kind.to_s

    # Two definitions are equal when kind, payload, name and options are.
    # @param other [Object]
    # @return [Boolean]
    def ==(other)
      other.is_a?(StateDefinition) &&
        [kind, payload, name, options] == [other.kind, other.payload, other.name, other.options]
    end
    alias eql? ==

    # @return [Integer]
    def hash = [kind, payload, name, options].hash

    # @return [String]
    def inspect
      "#<#{self.class} #{declared_as} #{name.inspect}#{options.empty? ? "" : " #{options}"}>"
    end

    private

    def check(name, options)
      allowed = KIND_OPTIONS.fetch(kind)
      allowed -= MESSAGE_REFUSED if message?
      options.each do |option, value|
        check_applies(name, option, allowed)
        valid, expected = OPTIONS.fetch(option)
        next if valid.call(value)

        raise TypeError, "option `#{option}` of #{declared_as} `#{name}` must be #{expected}, " \
                         "got #{value.inspect}"
      end
    end

    def check_applies(name, option, allowed)
      if message? && MESSAGE_REFUSED.include?(option)
        raise ArgumentError, "option `#{option}` does not apply to #{declared_as} `#{name}`: " \
                             "message collections cannot be published, since other clients " \
                             "could not reload their messages"
      end
      return if allowed.include?(option)

      raise ArgumentError, "unknown option `#{option}` for #{declared_as} `#{name}`; " \
                           "expected one of: #{allowed.join(", ")}"
    end
  end

  class << self
    # Declares a single value per key.
    # @param name [String] unique among the client's collections
    # @param options [Hash] `ttl:` whole seconds each write lives (default forever);
    #   `read_uncommitted:` (accepted; an event's writes commit atomically with its record
    #   either way, see the README), `published:` (true or false); `read_cache:` how long other
    #   clients' published reads keep an answer (seconds, default 5, or false)
    # @return [StateDefinition] frozen
    # @raise [ArgumentError] naming an unknown option or a value out of range
    # @example
    #   COUNT = Prosody.value("count", ttl: 3600)
    def value(name, **options) = StateDefinition.new(:value, name, **options)

    # Declares a map per key: String keys in byte order, JSON values.
    # @param name [String]
    # @param options [Hash] as {Prosody.value}, plus `keyset_limit:` (0 to 4096)
    # @return [StateDefinition]
    # @example
    #   TOTALS = Prosody.map("totals")
    def map(name, **options) = StateDefinition.new(:map, name, **options)

    # Declares a set of Strings per key, in byte order.
    # @param name [String]
    # @param options [Hash] as {Prosody.map}
    # @return [StateDefinition]
    # @example
    #   SEEN = Prosody.set("seen", ttl: 600)
    def set(name, **options) = StateDefinition.new(:set, name, **options)

    # Declares a double-ended queue of JSON values per key.
    # @param name [String]
    # @param options [Hash] as {Prosody.value}, plus `capacity:` (at least 1): a push beyond
    #   it drops elements from the other end
    # @return [StateDefinition]
    # @example
    #   RECENT = Prosody.deque("recent", capacity: 10)
    def deque(name, **options) = StateDefinition.new(:deque, name, **options)

    # Declares a single Kafka message per key. Only the message's topic, partition and offset
    # are stored; reads load the message back from Kafka, so the topic's retention must outlast
    # the state (set a `ttl:` below it). A read whose record is gone raises
    # {TransientStateError} naming it.
    # @param name [String]
    # @param options [Hash] `ttl:`, `read_uncommitted:` as {Prosody.value} (message collections
    #   cannot be `published:`)
    # @return [StateDefinition]
    # @example
    #   FIRST = Prosody.message_value("first", ttl: 3600)
    def message_value(name, **options)
      StateDefinition.new(:value, name, payload: :message, **options)
    end

    # Declares a map of String keys to Kafka messages per key (see {Prosody.message_value}).
    # @param name [String]
    # @param options [Hash] as {Prosody.message_value}, plus `keyset_limit:` (0 to 4096)
    # @return [StateDefinition]
    # @example
    #   LATEST = Prosody.message_map("latest_by_type")
    def message_map(name, **options)
      StateDefinition.new(:map, name, payload: :message, **options)
    end

    # Declares a double-ended queue of Kafka messages per key (see {Prosody.message_value}).
    # @param name [String]
    # @param options [Hash] as {Prosody.message_value}, plus `capacity:` (at least 1)
    # @return [StateDefinition]
    # @example
    #   WINDOW = Prosody.message_deque("window", capacity: 100, ttl: 3600)
    def message_deque(name, **options)
      StateDefinition.new(:deque, name, payload: :message, **options)
    end
  end
end
