# frozen_string_literal: true

require "io/wait"
require "logger"

# Logging shared by the Ruby processor and the native extension.
module Prosody
  class << self
    # The logger Prosody writes to: `$stdout` at INFO unless replaced.
    # @return [Logger]
    def logger
      @logger ||= Logger.new($stdout, level: Logger::INFO, progname: "prosody")
    end

    # Replaces the logger; `nil` restores the default (`$stdout` at INFO).
    # To silence Prosody, assign `Logger.new(File::NULL)`. Engine lines follow the logger's level:
    # at DEBUG the engine's debug lines appear too (a later `logger.level =` applies within a
    # second). `PROSODY_LOG` narrows them by target, e.g. `prosody_engine::consumer=debug`.
    # @param logger [Logger, nil]
    def logger=(logger)
      @logger_assigned = !logger.nil?
      @logger = logger
      LogPump.sync_level
    end

    # @return [Boolean] whether {logger=} chose a logger (the Rails integration leaves it alone)
    def logger_assigned?
      @logger_assigned == true
    end
  end
end

module Prosody
  # Forwards the engine's log lines to {Prosody.logger} from one background thread, in batches.
  # It starts with the first client (and again in a forked child).
  #
  # @api private
  module LogPump
    SEVERITIES = {
      0 => Logger::DEBUG, 1 => Logger::INFO, 2 => Logger::WARN, 3 => Logger::ERROR
    }.freeze

    @lock = Mutex.new

    class << self
      def ensure_running
        @lock.synchronize do
          return if @thread&.alive? && @pid == Process.pid

          fd = Native.log_fileno
          return unless fd

          @pid = Process.pid
          sync_level
          @thread = Thread.new(IO.for_fd(fd, autoclose: false)) { |io| pump(io) }
          @thread.name = "prosody-log"
        end
      end

      # Tells the engine the logger's level, so it makes no line the logger would discard.
      # Loggers without an Integer level count as INFO.
      def sync_level
        level = Prosody.logger.respond_to?(:level) ? Prosody.logger.level : nil
        level = Logger::INFO unless level.is_a?(Integer)
        return if level == @level

        Native.log_level = level
        @level = level
      end

      # Delivers whatever the engine has logged so far.
      def flush
        Native.drain_logs.each do |severity, line|
          Prosody.logger.add(SEVERITIES.fetch(severity, Logger::INFO), line)
        end
      end

      private

      def pump(io)
        loop do
          io.wait_readable(1)
          sync_level
          flush
        end
      rescue StandardError => e
        warn("prosody: log forwarding stopped: #{e.class}: #{e.message}")
      end
    end
  end
end
