# frozen_string_literal: true

require "optparse"
require "prosody"
require_relative "config_file"
require_relative "runner"
require_relative "broker_check"
require_relative "reloading_handler"

module Prosody
  # The `prosody` command: runs handler classes as a long-lived consumer process.
  #
  #   prosody [options] HandlerClass [HandlerClass ...]
  #
  # Each handler class gets a client of its own, built from the config file's options for it
  # (see {ConfigFile}) where no `PROSODY_*` variable overrides them, then the defaults. Inside a
  # Rails root (or with `--rails`) the app boots first, so handlers autoload. Signals are
  # described by {Runner::SIGNALS}.
  #
  # Before subscribing, it checks that each handler's brokers answer within `--startup-timeout`
  # seconds (default 30, or `PROSODY_STARTUP_TIMEOUT`; 0 skips the check), so a wrong address
  # fails at once instead of retrying silently.
  #
  # Exit codes: 0 after a clean stop; 64 for a usage error (a bad option, a missing file, an
  # unknown handler class, an invalid option value); 69 when no broker answered at start; 1
  # when the process stops for another reason; 130 for a second INT.
  class CLI
    # A mistake in how the command was called; the message is the one line printed.
    class UsageError < StandardError; end

    USAGE_ERROR = 64
    # sysexits' EX_UNAVAILABLE: a service the command needs is not there.
    UNAVAILABLE = 69
    BANNER = "Usage: prosody [options] HandlerClass [HandlerClass ...]"

    # @param argv [Array<String>]
    # @param out [IO] where logs and `--help` go
    # @param err [IO] where the one-line failure reasons go
    def initialize(argv, out: $stdout, err: $stderr)
      @argv = argv.dup
      @out = out
      @err = err
      @requires = []
      @environment = ENV["PROSODY_ENV"] || ENV["RAILS_ENV"] || ENV["RACK_ENV"] || "development"
      @rails = nil
      @startup_timeout = ENV.fetch("PROSODY_STARTUP_TIMEOUT", "30")
    end

    # Parses the arguments, boots, and runs until a signal stops the process.
    # @return [Integer] the exit code
    def run
      names = parse
      names ? start(names) : 0
    rescue UsageError, OptionParser::ParseError, ArgumentError, TypeError => e
      fail_with(e.message, USAGE_ERROR)
    rescue BrokerCheck::Unreachable => e
      fail_with(e.message, UNAVAILABLE)
    rescue Prosody::Error => e
      fail_with("#{e.class}: #{e.message}", 1)
    end

    private

    def start(names)
      # A supervisor reading the logs through a pipe must see each line as it happens.
      @out.sync = true if @out.respond_to?(:sync=)
      boot
      config = configure(names)
      clients = names.map { |name| [resolve(name), config.options_for(name)] }
      BrokerCheck.new(@startup_timeout).run(clients.map(&:last).uniq)
      Runner.new(clients, logger: Prosody.logger).run
    end

    def configure(names)
      config = ConfigFile.new(@config_path || default_config, @environment)
      # Other clients the app builds (a producer, say) get the file's options too.
      Prosody.defaults = Prosody.defaults.merge(config.shared_options)
      Prosody.logger = process_logger(names, config) unless rails_logger?
      config
    end

    # Returns the handler class names, or nil when the command only printed something.
    def parse
      names = option_parser.parse(@argv)
      return nil if @done
      raise UsageError, "no handler class given (see prosody --help)" if names.empty?

      names
    end

    def option_parser
      OptionParser.new do |parser|
        parser.banner = BANNER
        parser.separator ""
        loading_options(parser)
        startup_option(parser)
        informational_options(parser)
      end
    end

    def loading_options(parser)
      parser.on("-r", "--require FILE",
                "Require FILE before looking up handlers (repeatable)") do |f|
        @requires << f
      end
      parser.on("-c", "--config FILE", "YAML (with ERB) options; default config/prosody.yml") do |f|
        @config_path = f
      end
      parser.on("-e", "--environment NAME",
                "Config section (default $RAILS_ENV or development)") do |e|
        @environment = e
      end
      parser.on("--[no-]rails", "Boot the Rails app here (default: if there is one)") do |r|
        @rails = r
      end
      startup_option(parser)
    end

    def startup_option(parser)
      parser.on("--startup-timeout SECONDS",
                "Exit 69 unless a broker answers within SECONDS at start",
                "(default 30, or $PROSODY_STARTUP_TIMEOUT; 0 skips the check)") do |seconds|
        @startup_timeout = seconds
      end
    end

    def informational_options(parser)
      parser.on("-v", "--version", "Print the version") do
        print_and_finish("prosody #{Prosody::VERSION}")
      end
      parser.on("-h", "--help", "Print this help") do
        print_and_finish(parser, "",
                         "Any other option comes from its PROSODY_* environment variable.")
      end
    end

    def print_and_finish(*lines)
      @out.puts(*lines)
      @done = true
    end

    def rails?
      @rails.nil? ? File.exist?("config/environment.rb") : @rails
    end

    def boot
      boot_rails if rails?
      @requires.each { |file| require File.expand_path(file) }
    rescue LoadError => e
      raise UsageError, "cannot load #{e.path || e.message}"
    end

    def boot_rails
      ENV["RAILS_ENV"] ||= @environment
      # Prosody loaded before Rails here, so its Railtie must be registered before the app
      # initializes.
      require "rails"
      require_relative "railtie"
      require File.expand_path("config/environment.rb")
      ::Rails.application.eager_load!
    end

    def resolve(name)
      handler = Object.const_get(name)
      return handler if handler.is_a?(Class) && handler.method_defined?(:on_message)

      raise UsageError, "#{name} is not a handler class (it needs on_message and on_timer)"
    rescue NameError
      raise UsageError, "no handler class #{name} (require its file with -r?)"
    end

    def default_config
      path = "config/prosody.yml"
      File.exist?(path) ? path : nil
    end

    def rails_logger?
      defined?(::Rails.logger) && ::Rails.logger
    end

    # Lines name the process and the consumer groups it runs, so interleaved output from
    # several processes stays readable.
    def process_logger(names, config)
      groups = names.map do |name|
        config.options_for(name)[:group_id] || ENV.fetch("PROSODY_GROUP_ID", nil)
      end
      prefix = "pid=#{Process.pid} group=#{groups.compact.uniq.join(",")}"
      logger = Logger.new(@out, level: Logger::INFO, progname: "prosody")
      logger.formatter = proc do |severity, time, _progname, message|
        "#{time.utc.strftime("%FT%T.%LZ")} #{prefix} #{severity}: #{message}\n"
      end
      logger
    end

    def fail_with(message, code)
      @err.puts("prosody: #{message}")
      code
    end
  end
end
