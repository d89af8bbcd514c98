# frozen_string_literal: true

require "rbconfig"

module Chaos
  # The run's child processes: worker processes (`exe/prosody` with the chaos handler) and the
  # producer. A thread per child waits for its exit and queues it, so the orchestrator's loop
  # learns of exits without blocking; {#reap} logs them.
  class Fleet
    ROOT = File.expand_path("../..", __dir__)

    # @param dir [String] the run's directory: workers' output and logs go there
    # @param env [Hash] PROSODY_* and CHAOS_* variables every worker gets
    # @param log [#call] takes (kind, pid, detail, at) for events.tsv
    def initialize(dir, env, log)
      @dir = dir
      @env = env
      @log = log
      @workers = {} # pid => {started:, stopping:}
      @spawned = 0
      @exits = Thread::Queue.new
    end

    # @return [Integer, nil] when the producer exited (monotonic seconds), once it has
    attr_reader :producer_done

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    # @return [Integer] the new worker's pid
    def spawn_worker
      name = "worker-#{@spawned}"
      @spawned += 1
      pid = child(@env, File.join(ROOT, "exe", "prosody"), "-r", File.join(__dir__, "handler.rb"),
                  "ChaosHandler", out: "#{name}.out")
      @workers[pid] = { started: now }
      @log.call("spawn", pid, name)
      pid
    end

    # @param env [Hash] the producer's variables
    def spawn_producer(env)
      @producer = child(env, File.join(__dir__, "producer.rb"), out: "producer.out")
    end

    # The longest-running worker that is not stopping yet, other than `except`.
    def victim(except = [])
      live = @workers.reject { |pid, w| w[:stopping] || except.include?(pid) }
      live.min_by { |_, w| w[:started] }&.first
    end

    # Sends `name` to the worker and logs it as `kind`.
    def signal(name, pid, kind)
      @workers[pid][:stopping] = now
      @log.call(kind, pid, "")
      Process.kill(name, pid)
    end

    # Logs the exits queued since the last call.
    def reap
      until @exits.empty?
        pid, status, at = @exits.pop
        detail = "#{status.exitstatus.inspect} #{status.termsig.inspect}"
        if pid == @producer
          @producer_done = at
          @log.call("produced", pid, "exit #{detail}", at)
        else
          exited(pid, detail, at)
        end
      end
    end

    # TERMs every worker, waits up to `timeout` seconds for them, then KILLs (and logs as hung)
    # any still running.
    def stop_all(timeout)
      deadline = now + timeout
      @workers.each_key { |pid| signal("TERM", pid, "stop") }
      sleep_reaping(0.1) until @workers.empty? || now > deadline
      @workers.each_key do |pid|
        @log.call("hung", pid, "still running #{timeout}s after TERM; killed")
        Process.kill("KILL", pid)
      end
      sleep_reaping(0.1) until @workers.empty?
    end

    private

    def exited(pid, detail, at)
      stopping = @workers.delete(pid)&.fetch(:stopping, nil)
      took = stopping ? format(" after %<s>.1fs", s: at - stopping) : ""
      @log.call("exit", pid, detail + took, at)
    end

    def sleep_reaping(seconds)
      sleep seconds
      reap
    end

    def child(env, script, *args, out:)
      pid = Process.spawn(env, RbConfig.ruby, "-I", File.join(ROOT, "lib"), script, *args,
                          chdir: @dir, in: File::NULL, %i[out err] => [File.join(@dir, out), "w"])
      Thread.new do
        _, status = Process.wait2(pid)
        @exits << [pid, status, now]
      end
      pid
    end
  end
end
