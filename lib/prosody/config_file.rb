# frozen_string_literal: true

require "erb"
require "yaml"

module Prosody
  # Client options in a YAML file run through ERB first, so it can read the environment: what
  # the `prosody` command's `--config` and a Rails app's `config/prosody.yml` hold.
  #
  # Top-level keys are options for every client. When the file has sections named after
  # environments (`development:`, `test:`, `staging:`, `production:`), the section for the
  # current one applies instead. A `handlers:` map adds options per handler class, for the
  # `prosody` command:
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
  # A `PROSODY_*` variable that is set wins over the file, so a deployment can override what an
  # app ships.
  class ConfigFile
    # The file cannot be read or does not hold options; the message names the file.
    class Error < ArgumentError; end

    ENVIRONMENTS = %w[development test staging production].freeze

    # @param path [String, nil] the file; nil means no file
    # @param environment [String]
    # @raise [Prosody::ConfigFile::Error] if the file is missing, not valid YAML, not a mapping,
    #   or lacks a section for `environment` while having others
    def initialize(path, environment)
      @options = path ? load(path, environment) : {}
      @handlers = @options.delete("handlers") || {}
      return if @handlers.is_a?(Hash)

      raise Error,
            "#{path}: `handlers` must map class names to options"
    end

    # @return [Hash{Symbol => Object}] the options for every client, less those a set
    #   `PROSODY_*` variable overrides
    def shared_options
      below_environment(@options)
    end

    # @param handler_name [String] a handler class name
    # @return [Hash{Symbol => Object}] the options for that handler's client, less those a set
    #   `PROSODY_*` variable overrides
    def options_for(handler_name)
      below_environment(@options.merge(@handlers.fetch(handler_name, nil) || {}))
    end

    private

    def below_environment(options)
      options.transform_keys(&:to_sym).reject do |name, _|
        option = Configuration::OPTIONS[name]
        option&.set_in_environment?
      end
    end

    def load(path, environment)
      data = YAML.safe_load(ERB.new(File.read(path)).result, aliases: true) || {}
      raise Error, "#{path}: expected a mapping of options" unless data.is_a?(Hash)

      section(data, path, environment)
    rescue Errno::ENOENT, Errno::EACCES => e
      raise Error, "cannot read the config file: #{e.message}"
    rescue Psych::Exception => e
      raise Error, "#{path} is not valid YAML: #{e.message}"
    end

    # A file with environment sections gives the one for `environment`; any other file
    # applies as a whole.
    def section(data, path, environment)
      return data unless ENVIRONMENTS.any? { |name| data.key?(name) }

      data.fetch(environment) { raise Error, "#{path} has no `#{environment}` section" } || {}
    end
  end
end
