# frozen_string_literal: true

module Chaos
  # A Kafka of the run's own, managed by script/services under a home and ports that are not
  # the shared broker's, so that it may be stopped and killed. A broker fault runs on a thread
  # of its own (signal, wait for the process to go, stay down, start again), so the
  # orchestrator's loop goes on reaping workers and reading logs meanwhile.
  class Broker
    SERVICES = File.expand_path("../services", __dir__)

    # @param home [String] PROSODY_SERVICES_HOME for this broker
    # @param port [Integer] its client port; the controller listens on the next one
    # @param log [#call] takes (kind, pid, detail) for events.tsv
    def initialize(home, port, log)
      @env = { "PROSODY_SERVICES_HOME" => home, "PROSODY_KAFKA_PORT" => port.to_s,
               "PROSODY_KAFKA_CONTROLLER_PORT" => (port + 1).to_s }
      @pid_file = File.join(home, "kafka", "kafka.pid")
      @log = log
      @thread = nil
    end

    # Starts the broker (a no-op when it is healthy already); blocks until it answers.
    def start
      system(@env, SERVICES, "start", "kafka", out: File::NULL) or
        raise "script/services could not start the chaos broker (#{@env})"
    end

    # @return [Boolean] whether a fault's restart is still under way
    def busy? = @thread&.alive? || false

    # Sends `signal` to the broker, keeps it down for `down` seconds, then starts it again.
    def fault(signal, kind, down)
      pid = Integer(File.read(@pid_file))
      @thread = Thread.new do
        Process.kill(signal, pid)
        @log.call(kind, pid, "down for #{down}s after it exits")
        sleep 0.1 while alive?(pid)
        @log.call("broker-down", pid, "")
        sleep down
        @log.call("broker-start", nil, "")
        start
        @log.call("broker-up", Integer(File.read(@pid_file)), "")
      end
    end

    private

    def alive?(pid)
      Process.kill(0, pid)
      true
    rescue Errno::ESRCH
      false
    end
  end
end
