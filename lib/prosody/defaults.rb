# frozen_string_literal: true

# Process-wide client defaults.
module Prosody
  class << self
    # Options every client in this process starts from. A client's own options win over them,
    # and so does any `PROSODY_*` variable that is set, so a deployment can still override a
    # value an app ships. The Rails integration fills them from `config/prosody.yml`.
    #
    # @example
    #   Prosody.defaults = { bootstrap_servers: "kafka:9092", group_id: "billing" }
    #   Prosody::Client.new(subscribed_topics: "orders") # bootstrap_servers from the defaults
    # @return [Hash{Symbol => Object}] frozen
    def defaults
      @defaults ||= {}.freeze
    end

    # @param options [Hash, nil] checked like {Configuration} options; nil clears them
    # @raise [ArgumentError, TypeError] for an unknown option or a bad value
    def defaults=(options)
      @defaults = Configuration.new(options || {}).to_hash.freeze
    end

    # The defaults without those a set `PROSODY_*` variable overrides.
    # @api private
    def defaults_below_environment
      defaults.reject { |name, _| Configuration::OPTIONS.fetch(name).set_in_environment? }
    end
  end
end
