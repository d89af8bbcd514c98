# frozen_string_literal: true

# Keyed-state declarations: {Prosody::StateDefinition} and the module functions that build them.
module Prosody
  # A keyed-state collection's declaration: its kind, name and options, checked by the engine
  # when it is built and frozen. Build one with {Prosody.value}, {Prosody.map}, {Prosody.set}
  # or {Prosody.deque}, register it with the client's `state_collections:` option, and reach
  # the current key's collection with {Context#state}.
  #
  # @example
  #   TOTALS = Prosody.map("totals", ttl: 86_400)
  #   TOTALS.kind # => :map
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

    # @return [Symbol] :value, :map, :set or :deque
    attr_reader :kind
    # @return [String] the collection's name, unique per client
    attr_reader :name
    # @return [Hash{Symbol => Object}] the options given, frozen
    attr_reader :options
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

        raise TypeError, "state_collections takes Prosody.value, .map, .set or .deque " \
                         "definitions, got #{definition.inspect}"
      end
    end

    # @api private
    # @param kind [Symbol] :value, :map, :set or :deque
    # @param name [String]
    # @param options [Hash] see {Prosody.value}
    # @raise [ArgumentError] for an unknown option or a value out of range, naming it
    # @raise [TypeError] for an option of the wrong type, naming it
    def initialize(kind, name, **options)
      unless name.is_a?(String)
        raise TypeError,
              "state collection name must be a String, got #{name.class}"
      end

      check(kind, name, options)
      @kind = kind
      @name = name.dup.freeze
      @options = options.dup.freeze
      @native = Native::StateDefinition.build(
        kind, @name, options[:ttl], options[:capacity], options[:keyset_limit],
        options.fetch(:read_uncommitted, false), options.fetch(:published, false)
      )
      freeze
    end

    # Two definitions are equal when kind, name and options are.
    # @param other [Object]
    # @return [Boolean]
    def ==(other)
      other.is_a?(StateDefinition) && [kind, name,
                                       options] == [other.kind, other.name, other.options]
    end
    alias eql? ==

    # @return [Integer]
    def hash = [kind, name, options].hash

    # @return [String]
    def inspect = "#<#{self.class} #{kind} #{name.inspect}#{options.empty? ? "" : " #{options}"}>"

    private

    def check(kind, name, options)
      allowed = KIND_OPTIONS.fetch(kind)
      options.each do |option, value|
        unless allowed.include?(option)
          raise ArgumentError, "unknown option `#{option}` for #{kind} `#{name}`; " \
                               "expected one of: #{allowed.join(", ")}"
        end
        valid, expected = OPTIONS.fetch(option)
        next if valid.call(value)

        raise TypeError, "option `#{option}` of #{kind} `#{name}` must be #{expected}, " \
                         "got #{value.inspect}"
      end
    end
  end

  class << self
    # Declares a single value per key.
    # @param name [String] unique among the client's collections
    # @param options [Hash] `ttl:` whole seconds each write lives (default forever);
    #   `read_uncommitted:`, `published:` (true or false); `read_cache:` how long other
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
  end
end
