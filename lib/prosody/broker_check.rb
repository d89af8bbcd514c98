# frozen_string_literal: true

module Prosody
  # What the `prosody` command does before it subscribes: checks that each client's brokers
  # answer within the start-up timeout, so a wrong address or a broker that is down ends the
  # command with a one-line reason instead of a consumer that retries silently.
  class BrokerCheck
    # No broker answered in time; the message is the one line the command prints.
    class Unreachable < StandardError; end

    # @param seconds [String, Numeric] the timeout; 0 skips the check
    # @raise [CLI::UsageError] if `seconds` is not a number, 0 or more
    def initialize(seconds)
      @seconds = Float(seconds, exception: false)
      return if @seconds && !@seconds.negative?

      raise CLI::UsageError, "--startup-timeout (PROSODY_STARTUP_TIMEOUT) must be a number of " \
                             "seconds, 0 or more; got #{seconds.inspect}"
    end

    # Checks each set of client options once, connecting as that client would.
    # @param option_sets [Array<Hash>]
    # @return [nil]
    # @raise [Unreachable] naming the servers, when none answered in time
    def run(option_sets)
      return if @seconds.zero?

      option_sets.each do |options|
        Admin.new(**Prosody.defaults_below_environment.merge(options))
             .check_reachable(timeout: @seconds)
      end
      nil
    rescue Prosody::TransientError => e
      raise Unreachable, "#{e.message.lines.first.chomp} (see --startup-timeout)"
    end
  end
end
