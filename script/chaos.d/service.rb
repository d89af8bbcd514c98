# frozen_string_literal: true

module Chaos
  # A Kafka or Cassandra of the run's own, managed by script/services under a home and ports
  # that are not the shared ones, so that it may be stopped and killed. A fault runs on a thread
  # of its own (signal, wait for the process to go, stay down, start again), so the
  # orchestrator's loop goes on reaping workers and reading logs meanwhile.
  #
  # Its events are "PREFIX-down", "PREFIX-start" and "PREFIX-up", where PREFIX is `broker` for
  # Kafka and `cassandra` for Cassandra (see Records#outages).
  class Service
    SERVICES = File.expand_path("../services", __dir__)
    PREFIX = { "kafka" => "broker", "cassandra" => "cassandra" }.freeze

    # @param name [String] "kafka" or "cassandra"
    # @param home [String] PROSODY_SERVICES_HOME for this service
    # @param port [Integer] its client port (Kafka's controller listens on the next one)
    # @param log [#call] takes (kind, pid, detail) for events.tsv
    def initialize(name, home, port, log)
      @name = name
      @env = { "PROSODY_SERVICES_HOME" => home }.merge(ports(name, port))
      @pid_file = File.join(home, name, "#{name}.pid")
      @prefix = PREFIX.fetch(name)
      @log = log
      @thread = nil
      @started = false
    end

    # Starts the service (a no-op when it is healthy already); blocks until it answers.
    def start
      @started ||= !running?
      system(@env, SERVICES, "start", @name, out: File::NULL) or
        raise "script/services could not start the chaos #{@name} (#{@env})"
    end

    # Stops the service if this run started it.
    def stop
      @thread&.join
      system(@env, SERVICES, "stop", @name, out: File::NULL) if @started
    end

    # @return [Boolean] whether a fault's restart is still under way
    def busy? = @thread&.alive? || false

    # Sends `signal` to the service, keeps it down for `down` seconds, then starts it again.
    def fault(signal, kind, down)
      pid = Integer(File.read(@pid_file))
      @thread = Thread.new do
        Process.kill(signal, pid)
        @log.call(kind, pid, "down for #{down}s after it exits")
        sleep 0.1 while alive?(pid)
        @log.call("#{@prefix}-down", pid, "")
        sleep down
        @log.call("#{@prefix}-start", nil, "")
        start
        @log.call("#{@prefix}-up", Integer(File.read(@pid_file)), "")
      end
    end

    private

    def ports(name, port)
      return { "PROSODY_CASSANDRA_PORT" => port.to_s } if name == "cassandra"

      { "PROSODY_KAFKA_PORT" => port.to_s, "PROSODY_KAFKA_CONTROLLER_PORT" => (port + 1).to_s }
    end

    def running?
      File.exist?(@pid_file) && alive?(Integer(File.read(@pid_file)))
    rescue ArgumentError
      false
    end

    def alive?(pid)
      Process.kill(0, pid)
      true
    rescue Errno::ESRCH
      false
    end
  end
end
