# frozen_string_literal: true

require "did_you_mean"
require "json"

module Prosody
  # Settings for a {Client}: a plain value object. Every option is optional.
  #
  #   config = Prosody::Configuration.new(group_id: "billing", subscribed_topics: %w[orders])
  #   config = Prosody::Configuration.new { |c| c.max_concurrency = 64 }
  #
  # A reader returns the value set here, in its Ruby form, or nil when nothing was set: it never
  # looks at the environment. Assigning nil unsets an option. The `PROSODY_*` variables and the
  # defaults apply when a {Client} is built; {#effective} (and {Client#configuration}) show the
  # values a client would use.
  #
  # Each writer checks its value at once: a value of the wrong Ruby type raises TypeError, and a
  # value the option cannot take (an unknown mode, a negative duration, a port out of range)
  # raises ArgumentError; both name the option and the value. Rules between options (low_latency
  # mode needs a failure_topic) are checked by {#validate!} and {Client.new}.
  #
  # What each type takes, and what its reader returns:
  # - String: a String or Symbol; reads back as a String.
  # - List: an Array (or other Enumerable) of Strings or Symbols, or one String (entries may be
  #   separated by commas); reads back as an Array of Strings.
  # - Bool: true or false, or text such as "true", "false", "yes", "no"; reads back as true/false.
  # - Integer: an Integer or a String of digits. Float: a Numeric or a numeric String.
  # - Duration: seconds as a Numeric (ActiveSupport::Duration too), or text such as "100ms",
  #   "5m", "1h 30m"; reads back as Float seconds.
  # - Mode, Spans: a Symbol or String in any letter case; reads back as a Symbol.
  # - Port: an Integer from 1 to 65535 or its digits; false, :disabled or "disabled" turn the
  #   probe server off and read back as false.
  # - Properties (`kafka_config`): a Hash of librdkafka property names (String or Symbol) to
  #   values (String, Symbol, Numeric, true or false); reads back as a frozen Hash of Strings.
  #   From the environment, one `PROSODY_KAFKA_CONFIG_<NAME>` variable per property.
  #
  # The options; each one's description is in {OPTIONS} and in `sig/prosody/configuration.rbs`:
  #
  # option                     type      environment variable               default
  # bootstrap_servers          List      PROSODY_BOOTSTRAP_SERVERS          (none)
  # group_id                   String    PROSODY_GROUP_ID                   (none)
  # group_instance_id          String    PROSODY_GROUP_INSTANCE_ID          (none)
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
  # probe_port                 Port      PROSODY_PROBE_PORT                 (8000; none with mock)
  # probe_host                 String    PROSODY_PROBE_HOST                 0.0.0.0
  # failure_topic              String    PROSODY_FAILURE_TOPIC              (none)
  # idempotence_cache_size     Integer   PROSODY_IDEMPOTENCE_CACHE_SIZE     8192
  # idempotence_version        String    PROSODY_IDEMPOTENCE_VERSION        1
  # idempotence_ttl            Duration  PROSODY_IDEMPOTENCE_TTL            7d
  # slab_size                  Duration  PROSODY_SLAB_SIZE                  1h
  # message_spans              Spans     PROSODY_MESSAGE_SPANS              child
  # timer_spans                Spans     PROSODY_TIMER_SPANS                follows_from
  # kafka_config               Properties PROSODY_KAFKA_CONFIG_*            (none)
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
  # cassandra_tls              Bool      PROSODY_CASSANDRA_TLS              false
  # cassandra_tls_ca           String    PROSODY_CASSANDRA_TLS_CA           (system CAs)
  # cassandra_datacenter       String    PROSODY_CASSANDRA_DATACENTER       (none)
  # cassandra_rack             String    PROSODY_CASSANDRA_RACK             (none)
  # cassandra_retention        Duration  PROSODY_CASSANDRA_RETENTION        1y
  # reply_topic                String    PROSODY_REPLY_TOPIC                prosody.replies
  # telemetry_topic            String    PROSODY_TELEMETRY_TOPIC            prosody.telemetry-events
  # telemetry_enabled          Bool      PROSODY_TELEMETRY_ENABLED          (true; false with mock)
  class Configuration
    # One entry of the engine's option catalogue: name (Symbol), environment variable, default
    # (as text), type and one-line description.
    Option = Struct.new(:name, :env, :default, :kind, :doc) do
      # Whether the environment sets this option: its variable, or for `kafka_config` (whose
      # `env` ends in `*`) any variable of its family.
      #
      # @return [Boolean]
      def set_in_environment?
        return ENV.key?(env) unless env.end_with?("*")

        prefix = env.chomp("*")
        ENV.each_key.any? { |name| name.start_with?(prefix) && name.size > prefix.size }
      end
    end

    # Every option the engine knows, by name.
    OPTIONS = Native.option_specs.to_h do |name, env, default, kind, doc|
      [name.to_sym, Option.new(name.to_sym, env, default, kind, doc).freeze]
    end.freeze

    # Options that {#inspect} and {#to_h} never show.
    SECRETS = %i[cassandra_password].freeze
    private_constant :SECRETS

    # `kafka_config` properties whose values {#inspect} and {#to_h} never show.
    SECRET_PROPERTY = /password|secret|key|token/i
    private_constant :SECRET_PROPERTY

    # Builds a configuration from a Hash (Symbol or String keys), another configuration's
    # settings, and/or a block.
    #
    # @param options [Hash{Symbol, String => Object}, Configuration, nil] option values; a nil
    #   value leaves an option unset
    # @yieldparam config [Configuration] the new configuration, to set options on
    # @return [void]
    # @raise [ArgumentError] for an unknown option, suggesting the closest name, or a bad value
    # @raise [TypeError] for a value of the wrong type
    # @example
    #   Prosody::Configuration.new("group_id" => "billing", mock: true)
    def initialize(options = {})
      @values = {}
      options.to_h.each { |key, value| public_send(:"#{option_name(key)}=", value) }
      yield self if block_given?
    end

    OPTIONS.each_value do |option|
      name = option.name
      define_method(name) { @values[name] }
      define_method(:"#{name}=") do |value|
        if value.nil?
          @values.delete(name)
        else
          @values[name] = Codec.cast(option, value)
        end
      end
    end

    # Checks the rules between options, with the environment and the defaults filling in what
    # is unset, as {Client.new} does.
    #
    # @return [self]
    # @raise [ArgumentError] when the options contradict each other, or an environment variable
    #   holds a bad value
    # @example
    #   Prosody::Configuration.new(mode: :low_latency).validate! # raises: needs failure_topic
    def validate!
      Native.resolve_options(to_native)
      self
    end

    # The options set here, as the engine's text, for the native client. Unset options are left
    # out so that the engine applies the environment and the defaults.
    #
    # @return [Hash{String => String}]
    # @example
    #   Prosody::Configuration.new(probe_port: false, timeout: 1.5).to_native
    #   # => {"probe_port"=>"none", "timeout"=>"1.5"}
    def to_native
      @values.to_h { |name, value| [name.to_s, Codec.encode(OPTIONS.fetch(name), value)] }
    end

    # Every option's effective value: set here, else from its `PROSODY_*` variable, else the
    # default; nil where an option has no value. The password reads "<redacted>".
    #
    # @return [Hash{Symbol => Object}] Ruby values, as the readers return them
    # @raise [ArgumentError] as {#validate!}
    # @example
    #   Prosody::Configuration.new(stall_threshold: 10).effective[:timeout] # => 8.0
    def effective
      Native.resolve_options(to_native).freeze
    end

    # The options set here, with Symbol keys, secrets included: the implicit conversion Ruby
    # uses to pass a configuration on as options (`Prosody::Client.new(**config)`). To show the
    # options, use {#to_h} or {#inspect}, which redact secrets.
    #
    # @return [Hash{Symbol => Object}]
    # @example
    #   Prosody::Configuration.new(group_id: "billing").to_hash # => {group_id: "billing"}
    def to_hash
      @values.dup
    end

    # The options set here, with Symbol keys, for display: `cassandra_password` and the values
    # of `kafka_config` properties named like a secret (password, secret, key, token) read
    # "[REDACTED]".
    #
    # @return [Hash{Symbol => Object}]
    # @example
    #   Prosody::Configuration.new(kafka_config: { "sasl.password" => "s3cret" }).to_h
    #   # => {kafka_config: {"sasl.password"=>"[REDACTED]"}}
    def to_h
      @values.to_h { |name, value| [name, redact(name, value)] }
    end

    # Shows the options set here, with secrets redacted as in {#to_h}.
    #
    # @return [String]
    # @example
    #   Prosody::Configuration.new(cassandra_password: "s3cret").inspect
    #   # => "#<Prosody::Configuration cassandra_password=[REDACTED]>"
    def inspect
      shown = @values.map do |name, value|
        " #{name}=#{SECRETS.include?(name) ? "[REDACTED]" : redact(name, value).inspect}"
      end
      "#<#{self.class.name}#{shown.join(",")}>"
    end
    alias to_s inspect

    # Configurations are equal when they set the same options to the same values.
    #
    # @param other [Object]
    # @return [Boolean]
    def ==(other)
      other.is_a?(Configuration) && other.to_hash == @values
    end
    alias eql? ==

    # @return [Integer]
    def hash
      [self.class, @values].hash
    end

    private

    def redact(name, value)
      return "[REDACTED]" if SECRETS.include?(name)
      return value unless name == :kafka_config

      value.to_h do |property, text|
        [property, property.match?(SECRET_PROPERTY) ? "[REDACTED]" : text]
      end
    end

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

    # Checks a Ruby value against an option's type, asks the engine whether the option can take
    # it, and turns it into the Ruby form its reader returns; and turns that back into the text
    # the engine reads.
    module Codec
      ENCODERS = {
        "String" => :string, "Mode" => :string, "SpanRelation" => :string, "StringList" => :list,
        "Bool" => :bool, "Integer" => :integer, "Float" => :float, "Duration" => :duration,
        "OptionalPort" => :port, "Properties" => :properties
      }.freeze

      # Values that turn the probe server off.
      DISABLED = [false, :disabled, "disabled"].freeze

      module_function

      # @return [Object] the Ruby value the option's reader returns
      # @raise [TypeError, ArgumentError] naming the option and the value
      def cast(option, value)
        return false if option.kind == "OptionalPort" && DISABLED.include?(value)

        parsed = Native.parse_option(option.name.to_s, encode(option, value))
        case option.kind
        when "String" then value.to_s # kept as given: the engine trims names when it builds
        when "OptionalPort" then parsed.nil? ? false : parsed
        when "Properties" then JSON.parse(encode(option, value)).freeze # the engine's is redacted
        else parsed
        end
      end

      # @return [String] the engine's text for +value+
      # @raise [TypeError, ArgumentError] naming the option when +value+ does not fit its type
      def encode(option, value)
        public_send(ENCODERS.fetch(option.kind), option, value)
      end

      def string(option, value)
        accept(option, value, Symbol, String).to_s
      end

      def list(option, value)
        return value if value.is_a?(String)

        items = accept(option, value, Symbol, Enumerable, expected: "an Array of Strings")
        return items.to_s if items.is_a?(Symbol) || items.is_a?(Hash)

        items.map { |item| accept(option, item, String, Symbol, expected: "Strings or Symbols") }
             .join(",")
      end

      def bool(option, value)
        accept(option, value, TrueClass, FalseClass, String,
               expected: 'true, false, or text such as "true" or "false"').to_s
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
        return value if value.is_a?(String)

        expected = 'seconds as a real Numeric, or a String such as "5m"'
        accept(option, value, Float, expected:) unless real?(value)
        if value.negative?
          raise ArgumentError, "`#{option.name}` must not be negative seconds, got #{value.inspect}"
        end

        seconds = finite(option, value).to_f
        return seconds.to_i.to_s if seconds == seconds.to_i

        format("%.9f", seconds).sub(/\.?0+\z/, "")
      end

      def port(option, value)
        return "none" if value == false
        return value.to_s if value.is_a?(Integer)

        accept(option, value, String, expected: "an Integer from 1 to 65535, or false").to_s
      end

      def properties(option, value)
        hash = accept(option, value, Hash, expected: "a Hash of librdkafka properties to values")
        JSON.generate(hash.to_h do |name, text|
          [accept(option, name, String, Symbol, expected: "property names as Strings").to_s,
           accept(option, text, String, Symbol, Numeric, TrueClass, FalseClass,
                  expected: "property values as Strings, Numerics or booleans").to_s]
        end)
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

        raise ArgumentError, "`#{option.name}` must be a finite number, got #{value.inspect}"
      end
    end
    private_constant :Codec
  end
end
