# frozen_string_literal: true

module Prosody
  # Creates and deletes topics on the cluster the options point at (or the mock cluster).
  #
  # @example
  #   admin = Prosody::Admin.new(bootstrap_servers: "localhost:9092")
  #   admin.create_topic("orders", partitions: 8, replication: 1)
  class Admin
    # @param options [Hash] the same connection options as {Client}
    def initialize(**options)
      @native = Native::Admin.new(Configuration.new(options).to_native)
    end

    # Creates `name`; an existing topic is left as it is.
    # @param name [String]
    # @param partitions [Integer]
    # @param replication [Integer]
    # @param timeout [Numeric] seconds to wait for a broker's answer, more than 0
    # @return [nil]
    # @raise [Prosody::Error] naming the topic, when no broker answered within `timeout`
    def create_topic(name, partitions: 1, replication: 1, timeout: 30)
      @native.create_topic(String(name), Integer(partitions), Integer(replication),
                           Float(timeout)).value
      nil
    end

    # Checks that a broker answers within `timeout` seconds (always true on the mock cluster).
    # The `prosody` command runs it before it subscribes, so a wrong address fails at start.
    #
    # @example
    #   Prosody::Admin.new(bootstrap_servers: "localhost:9092").check_reachable(timeout: 5)
    # @param timeout [Numeric] seconds, more than 0
    # @return [nil]
    # @raise [Prosody::TransientError] naming the servers when none answered in time
    # @raise [ArgumentError] if `timeout` is not a positive number
    def check_reachable(timeout: 30)
      unless timeout.is_a?(Numeric) && timeout.positive?
        raise ArgumentError,
              "timeout must be positive, got #{timeout.inspect}"
      end

      @native.check_reachable(timeout.to_f).value
      nil
    end

    # Deletes `name` (not supported by the mock cluster, which raises Prosody::Error).
    # @param name [String]
    # @return [nil]
    def delete_topic(name)
      @native.delete_topic(String(name)).value
      nil
    end
  end
end
