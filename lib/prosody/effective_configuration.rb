# frozen_string_literal: true

module Prosody
  # What a client runs with, as {Client#configuration} returns it: a frozen Hash of every
  # option's effective value by Symbol name, that also knows which options its mode ignores.
  #
  # Modes leave some options without effect: deferral and hot-key protection only exist in
  # pipeline mode (and deferral's settings only with `defer_enabled`), the failure topic only in
  # low-latency mode, retries in every mode but best-effort; `telemetry_topic` only with
  # `telemetry_enabled` (off by default in mock mode). A client logs once, at subscribe,
  # the ones you set anyway; this lets code and consoles ask.
  #
  # @example
  #   config = Prosody::Client.new(mock: true, mode: :best_effort).configuration
  #   config[:max_retries]          # => 3
  #   config.applies?(:max_retries) # => false
  #   config.inactive_options       # => [:failure_topic, :max_retries, :retry_base, ...]
  class EffectiveConfiguration < Hash
    # @param values [Hash{Symbol => Object}] every option's effective value
    # @param inactive [Array<Symbol>] the options that do nothing in the mode
    def initialize(values, inactive)
      super()
      update(values)
      @inactive_options = inactive.freeze
      freeze
    end

    # @return [Array<Symbol>] the options that do nothing in this mode, set or not, frozen
    attr_reader :inactive_options

    # @param name [Symbol, String] an option name
    # @return [Boolean] whether the option has any effect in this mode
    # @raise [ArgumentError] if `name` is not an option
    def applies?(name)
      key = name.to_sym
      raise ArgumentError, "unknown option #{name.inspect}" unless key?(key)

      !@inactive_options.include?(key)
    end
  end
end
