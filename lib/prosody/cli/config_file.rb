# frozen_string_literal: true

require "erb"
require "yaml"

module Prosody
  class CLI
    # A YAML file of client options, evaluated as ERB first so it can read the environment.
    #
    # Top-level keys are options for every handler. When the file has a section named after the
    # environment (`production:`, ...), that section is used instead. A `handlers:` map gives
    # per-handler-class options on top:
    #
    #   production:
    #     bootstrap_servers: <%= ENV.fetch("KAFKA_BROKERS", "localhost:9092") %>
    #     group_id: billing
    #     handlers:
    #       OrdersHandler:
    #         subscribed_topics: orders
    #       RefundsHandler:
    #         subscribed_topics: refunds
    #         group_id: billing-refunds
    #
    # Unset options still fall back to their `PROSODY_*` variables, which is how a deployment
    # overrides anything the file leaves out.
    class ConfigFile
      ENVIRONMENTS = %w[development test staging production].freeze

      # @param path [String, nil] the file; nil means no file (every option from the environment)
      # @param environment [String]
      # @raise [Prosody::CLI::UsageError] if the file is missing, not valid YAML or not a mapping
      def initialize(path, environment)
        @options = path ? load(path, environment) : {}
        @handlers = @options.delete("handlers") || {}
        return if @handlers.is_a?(Hash)

        raise UsageError,
              "#{path}: `handlers` must map class names to options"
      end

      # @param handler_name [String] a handler class name
      # @return [Hash{Symbol => Object}] the options for that handler's client
      def options_for(handler_name)
        own = @handlers.fetch(handler_name, nil) || {}
        @options.merge(own).transform_keys(&:to_sym)
      end

      private

      def load(path, environment)
        text = ERB.new(File.read(path)).result
        data = YAML.safe_load(text, aliases: true) || {}
        raise UsageError, "#{path}: expected a mapping of options" unless data.is_a?(Hash)

        section(data, path, environment)
      rescue Errno::ENOENT, Errno::EACCES => e
        raise UsageError, "cannot read the config file: #{e.message}"
      rescue Psych::Exception => e
        raise UsageError, "#{path} is not valid YAML: #{e.message}"
      end

      # A file with environment sections gives the one for `environment`; any other file
      # applies as a whole.
      def section(data, path, environment)
        return data unless ENVIRONMENTS.any? { |name| data.key?(name) }

        data.fetch(environment) do
          raise UsageError, "#{path} has no `#{environment}` section"
        end || {}
      end
    end
  end
end
