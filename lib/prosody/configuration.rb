# frozen_string_literal: true

require "did_you_mean"

module Prosody
  # Settings for a {Client}. Every option is optional; an option left unset falls back to its
  # `PROSODY_*` environment variable, then to the engine's default.
  #
  #   config = Prosody::Configuration.new(group_id: "billing", subscribed_topics: %w[orders])
  #   config = Prosody::Configuration.new { |c| c.max_concurrency = 64 }
  #
  # Writers store the value as given and check nothing; {#validate!} (and {Client.new}) checks
  # types here and values in the engine, and raises naming the option. A reader returns the value
  # you set, unchanged. For an option you left unset it returns the effective value, from the
  # environment or the default, as a Ruby value: Integer, Float, true/false, an Array of Strings
  # (List), Float seconds (Duration), a Symbol (Mode, Spans), an Integer or nil (Port), or a
  # String (nil when there is none). {#effective} gives every option as the engine's text. The
  # engine never reports cassandra_password in clear: it reads "<redacted>" there.
  #
  # Ruby values each type accepts:
  # - String: a String or Symbol. Mode, Spans: a Symbol or String, e.g. `:low_latency`.
  # - List: a comma-separated String, or an Array of Strings or Symbols.
  # - Bool: true, false, "true" or "false".
  # - Integer: an Integer or a String of digits. Float: a Numeric or a numeric String.
  # - Duration: seconds as a Numeric (at least 0), or text such as "100ms", "5m", "1h", "7d".
  # - Port: an Integer; nil, false or "none" turns the probe server off.
  #
  # The options; each one's description is in {OPTIONS} and in `sig/prosody/configuration.rbs`:
  #
  # option                     type      environment variable               default
  # bootstrap_servers          List      PROSODY_BOOTSTRAP_SERVERS          (none)
  # group_id                   String    PROSODY_GROUP_ID                   (none)
  # subscribed_topics          List      PROSODY_SUBSCRIBED_TOPICS          (none)
  # allowed_events             List      PROSODY_ALLOWED_EVENTS             (all events)
  # source_system              String    PROSODY_SOURCE_SYSTEM              (group_id)
  # mock                       Bool      PROSODY_MOCK                       false
  # mode                       Mode      PROSODY_MODE                       pipeline
  # max_concurrency            Integer   PROSODY_MAX_CONCURRENCY            32
  # max_uncommitted            Integer   PROSODY_MAX_UNCOMMITTED            64
  # timeout                    Duration  PROSODY_TIMEOUT                    (80% of stall_threshold)
  # commit_interval            Duration  PROSODY_COMMIT_INTERVAL            1s
  # poll_interval              Duration  PROSODY_POLL_INTERVAL              100ms
  # shutdown_timeout           Duration  PROSODY_SHUTDOWN_TIMEOUT           30s
  # stall_threshold            Duration  PROSODY_STALL_THRESHOLD            5m
  # probe_port                 Port      PROSODY_PROBE_PORT                 8000
  # failure_topic              String    PROSODY_FAILURE_TOPIC              (none)
  # idempotence_cache_size     Integer   PROSODY_IDEMPOTENCE_CACHE_SIZE     8192
  # idempotence_version        String    PROSODY_IDEMPOTENCE_VERSION        1
  # idempotence_ttl            Duration  PROSODY_IDEMPOTENCE_TTL            7d
  # slab_size                  Duration  PROSODY_SLAB_SIZE                  1h
  # message_spans              Spans     PROSODY_MESSAGE_SPANS              child
  # timer_spans                Spans     PROSODY_TIMER_SPANS                follows_from
  # send_timeout               Duration  PROSODY_SEND_TIMEOUT               1s
  # max_retries                Integer   PROSODY_MAX_RETRIES                3
  # retry_base                 Duration  PROSODY_RETRY_BASE                 20ms
  # max_retry_delay            Duration  PROSODY_RETRY_MAX_DELAY            5m
  # defer_enabled              Bool      PROSODY_DEFER_ENABLED              true
  # defer_base                 Duration  PROSODY_DEFER_BASE                 1s
  # defer_max_delay            Duration  PROSODY_DEFER_MAX_DELAY            24h
  # defer_failure_threshold    Float     PROSODY_DEFER_FAILURE_THRESHOLD    0.9
  # defer_failure_window       Duration  PROSODY_DEFER_FAILURE_WINDOW       5m
  # defer_cache_size           Integer   PROSODY_DEFER_CACHE_SIZE           1024
  # defer_seek_timeout         Duration  PROSODY_DEFER_SEEK_TIMEOUT         30s
  # defer_discard_threshold    Integer   PROSODY_DEFER_DISCARD_THRESHOLD    100
  # monopolization_enabled     Bool      PROSODY_MONOPOLIZATION_ENABLED     true
  # monopolization_threshold   Float     PROSODY_MONOPOLIZATION_THRESHOLD   0.9
  # monopolization_window      Duration  PROSODY_MONOPOLIZATION_WINDOW      5m
  # monopolization_cache_size  Integer   PROSODY_MONOPOLIZATION_CACHE_SIZE  8192
  # scheduler_failure_weight   Float     PROSODY_SCHEDULER_FAILURE_WEIGHT   0.3
  # scheduler_max_wait         Duration  PROSODY_SCHEDULER_MAX_WAIT         2m
  # scheduler_wait_weight      Float     PROSODY_SCHEDULER_WAIT_WEIGHT      200.0
  # scheduler_cache_size       Integer   PROSODY_SCHEDULER_CACHE_SIZE       8192
  # cassandra_nodes            List      PROSODY_CASSANDRA_NODES            (none)
  # cassandra_keyspace         String    PROSODY_CASSANDRA_KEYSPACE         prosody
  # cassandra_user             String    PROSODY_CASSANDRA_USER             (none)
  # cassandra_password         String    PROSODY_CASSANDRA_PASSWORD         (none)
  # cassandra_datacenter       String    PROSODY_CASSANDRA_DATACENTER       (none)
  # cassandra_rack             String    PROSODY_CASSANDRA_RACK             (none)
  # cassandra_retention        Duration  PROSODY_CASSANDRA_RETENTION        1y
  # telemetry_topic            String    PROSODY_TELEMETRY_TOPIC            prosody.telemetry-events
  # telemetry_enabled          Bool      PROSODY_TELEMETRY_ENABLED          true
  class Configuration
    # One entry of the engine's option catalogue: name (Symbol), environment variable, default
    # (as text), type and one-line description.
    Option = Struct.new(:name, :env, :default, :kind, :doc)

    # Every option the engine knows, by name.
    OPTIONS = Native.option_specs.to_h do |name, env, default, kind, doc|
      [name.to_sym, Option.new(name.to_sym, env, default, kind, doc).freeze]
    end.freeze

    # Options whose default is computed from other options (timeout is 80% of stall_threshold).
    DERIVED_FROM = { timeout: %i[stall_threshold] }.freeze
    private_constant :DERIVED_FROM

    # Options that {#inspect} never shows.
    SECRETS = %i[cassandra_password].freeze
    private_constant :SECRETS

    # Builds a configuration from a Hash (Symbol or String keys), another configuration's
    # settings, and/or a block.
    #
    # @param options [Hash{Symbol, String => Object}, Configuration, nil] option values; a nil
    #   value leaves an option unset (except probe_port, where nil turns the probe server off)
    # @yieldparam config [Configuration] the new configuration, to set options on
    # @return [void]
    # @raise [ArgumentError] for an unknown option, suggesting the closest name
    # @example
    #   Prosody::Configuration.new("group_id" => "billing", mock: true)
    def initialize(options = {})
      @values = {}
      options.to_h.each { |key, value| public_send(:"#{option_name(key)}=", value) }
      yield self if block_given?
    end

    OPTIONS.each_value do |option|
      name = option.name
      define_method(name) { @values.key?(name) ? @values[name] : fallback(option) }
      define_method(:"#{name}=") do |value|
        if value.nil? && option.kind != "OptionalPort"
          @values.delete(name)
        else
          @values[name] = value
        end
        value
      end
    end

    # Checks every option: Ruby types here, values and cross-option rules in the engine.
    #
    # @return [self]
    # @raise [TypeError] when an option has a value of the wrong Ruby type
    # @raise [ArgumentError] when the engine rejects a value (set here or in the environment)
    # @example
    #   Prosody::Configuration.new(max_concurrency: 0).validate! # raises ArgumentError
    def validate!
      Native.resolve_options(to_native)
      self
    end

    # The options set here, as the engine's text, for the native client. Unset options are left
    # out so that the engine applies the environment and the defaults.
    #
    # @return [Hash{String => String}]
    # @raise [TypeError] when an option has a value of the wrong Ruby type
    # @example
    #   Prosody::Configuration.new(probe_port: nil, timeout: 1.5).to_native
    #   # => {"probe_port"=>"none", "timeout"=>"1.5"}
    def to_native
      @values.to_h { |name, value| [name.to_s, encode(OPTIONS.fetch(name), value)] }
    end

    # Every option's effective value as the engine's text: set here, else from the environment,
    # else the default. Durations read like "5m 30s"; nil means the option has no value.
    #
    # @return [Hash{String => String, nil}]
    # @raise [TypeError, ArgumentError] as {#validate!}
    # @example
    #   Prosody::Configuration.new(stall_threshold: 10).effective["timeout"] # => "8s"
    def effective
      Native.resolve_options(to_native)
    end

    # The options set here, as given.
    #
    # @return [Hash{Symbol => Object}]
    # @example
    #   Prosody::Configuration.new(group_id: "billing").to_h # => {group_id: "billing"}
    def to_h
      @values.dup
    end

    # Shows the options set here, with secrets redacted.
    #
    # @return [String]
    # @example
    #   Prosody::Configuration.new(cassandra_password: "s3cret").inspect
    #   # => "#<Prosody::Configuration cassandra_password=[REDACTED]>"
    def inspect
      shown = @values.map do |name, value|
        " #{name}=#{SECRETS.include?(name) ? "[REDACTED]" : value.inspect}"
      end
      "#<#{self.class.name}#{shown.join(",")}>"
    end
    alias to_s inspect

    private

    def initialize_copy(source)
      super
      @values = @values.dup
    end

    def option_name(key)
      unless key.is_a?(Symbol) || key.is_a?(String)
        raise TypeError, "option names are Symbols or Strings, got #{key.inspect} (#{key.class})"
      end
      return key.to_sym if OPTIONS.key?(key.to_sym)

      suggestion = DidYouMean::SpellChecker.new(dictionary: OPTIONS.keys.map(&:to_s))
                                           .correct(key.to_s).first
      hint = suggestion ? "did you mean `#{suggestion}`?" : "see Prosody::Configuration::OPTIONS"
      raise ArgumentError, "unknown option `#{key}`; #{hint}"
    end

    # The effective value of an unset option. Only the options it derives from are passed, so
    # that an invalid setting elsewhere (say low_latency before failure_topic is set) does not
    # make this reader fail.
    def fallback(option)
      inputs = DERIVED_FROM.fetch(option.name, []).filter_map do |name|
        [name.to_s, encode(OPTIONS.fetch(name), @values[name])] if @values.key?(name)
      end
      decode(option, Native.resolve_options(inputs.to_h)[option.name.to_s])
    end

    def encode(option, value) = Codec.encode(option, value)

    def decode(option, text) = Codec.decode(option, text)

    # Checks a Ruby value against an option's type and turns it into the engine's text, and
    # turns the engine's text back into a Ruby value.
    module Codec
      # Seconds per unit, in the unit spellings humantime reads and writes.
      UNITS = {
        %w[nsec ns] => Rational(1, 1_000_000_000), %w[usec us µs] => Rational(1, 1_000_000),
        %w[msec ms] => Rational(1, 1000), %w[seconds second sec s] => 1,
        %w[minutes minute min m] => 60, %w[hours hour hr h] => 3600,
        %w[days day d] => 86_400, %w[weeks week w] => 604_800,
        %w[months month M] => 2_630_016, %w[years year y] => 31_557_600
      }.flat_map { |names, seconds| names.map { |name| [name, seconds] } }.to_h.freeze

      ENCODERS = {
        "String" => :string, "Mode" => :string, "SpanRelation" => :string, "StringList" => :list,
        "Bool" => :bool, "Integer" => :integer, "Float" => :float, "Duration" => :duration,
        "OptionalPort" => :port
      }.freeze

      DECODERS = {
        "StringList" => ->(text) { text.split(",") }, "Bool" => ->(text) { text == "true" },
        "Integer" => ->(text) { Integer(text, 10) }, "OptionalPort" => ->(text) { Integer(text) },
        "Float" => ->(text) { Float(text) }, "Duration" => ->(text) { seconds(text) },
        "Mode" => :to_sym.to_proc, "SpanRelation" => :to_sym.to_proc
      }.freeze

      module_function

      # @return [String] the engine's text for +value+
      # @raise [TypeError, ArgumentError] naming the option when +value+ does not fit its type
      def encode(option, value)
        public_send(ENCODERS.fetch(option.kind), option, value)
      end

      # @return [Object, nil] the Ruby value for the engine's +text+
      def decode(option, text)
        return nil if text.nil?

        DECODERS.fetch(option.kind, :itself.to_proc).call(text)
      end

      def string(option, value)
        accept(option, value, Symbol, String).to_s
      end

      def list(option, value)
        return accept(option, value, String, Symbol, Array).to_s unless value.is_a?(Array)

        value.map { |item| accept(option, item, String, Symbol, expected: "Strings or Symbols") }
             .join(",")
      end

      def bool(option, value)
        expected = 'true, false, "true" or "false"'
        text = accept(option, value, TrueClass, FalseClass, String, expected:).to_s.downcase
        return text if %w[true false].include?(text)

        accept(option, value, TrueClass, FalseClass, expected:)
      end

      def integer(option, value)
        return value.to_s if value.is_a?(Integer)
        return value.strip if value.is_a?(String) && value.match?(/\A\s*[+-]?\d+\s*\z/)

        accept(option, value, Integer, expected: "an Integer or a String of digits")
      end

      def float(option, value)
        return finite(option, value).to_s if real?(value)
        return value.strip if value.is_a?(String) && Float(value, exception: false)

        accept(option, value, Float, expected: "a Numeric or a numeric String")
      end

      def duration(option, value)
        return value.strip if value.is_a?(String)

        expected = 'seconds as a real Numeric, or a String such as "5m"'
        accept(option, value, Float, expected:) unless real?(value)
        if value.negative?
          raise ArgumentError, "`#{option.name}` must not be negative seconds, got #{value}"
        end
        return value.to_s if value.is_a?(Integer)

        format("%.9f", finite(option, value).to_f).sub(/\.?0+\z/, "")
      end

      def port(option, value)
        return "none" if value.nil? || value == false
        return value.to_s if value.is_a?(Integer)

        accept(option, value, String, Symbol, expected: 'an Integer, or nil, false or "none"').to_s
      end

      # @param text [String] humantime text such as "1s 500ms" or "7days", or bare seconds
      # @return [Float] seconds
      def seconds(text)
        bare = Float(text, exception: false)
        return bare if bare

        text.scan(/(\d+)\s*([[:alpha:]]+)/).sum(Rational(0)) do |amount, unit|
          Integer(amount, 10) * UNITS.fetch(unit)
        end.to_f
      end

      def accept(option, value, *types, expected: nil)
        return value if types.any? { |type| value.is_a?(type) }

        expected ||= types.map(&:name).join(" or ")
        raise TypeError,
              "`#{option.name}` expects #{expected}, got #{value.inspect} (#{value.class})"
      end

      def real?(value) = value.is_a?(Numeric) && value.real?

      def finite(option, value)
        return value if value.is_a?(Integer) || value.to_f.finite?

        raise ArgumentError, "`#{option.name}` must be a finite number, got #{value}"
      end
    end
    private_constant :Codec
  end
end
