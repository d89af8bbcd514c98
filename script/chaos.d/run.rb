# frozen_string_literal: true

require "fileutils"
require "rbconfig"
require "prosody"
require_relative "progress"

module Chaos
  # One chaos run: a fresh topic, a producer process, several `prosody` worker processes in one
  # group, faults on a schedule, then a graceful stop of every worker once all acknowledged
  # messages were handled (or the drain timeout passed). Everything it does goes to
  # `events.tsv` in the run's directory ("mono kind pid detail"), which the verifier reads with
  # the handlers' logs.
  class Run
    ROOT = File.expand_path("../..", __dir__)
    # A TERM during a pending rebalance follows a SIGKILL by this long: the group then waits out
    # the killed member's session timeout (45 s by default) before it can settle.
    PENDING_TERM_DELAY = 3

    attr_reader :dir

    # @param options [Hash] see script/chaos --help
    def initialize(options)
      @opts = options
      stamp = Time.now.utc.strftime("%Y%m%d-%H%M%S")
      @dir = File.expand_path(options[:dir] || File.join(ROOT, "tmp", "chaos", stamp))
      @topic = "chaos-#{stamp}-#{rand(36**4).to_s(36)}"
      @workers = {} # pid => {started:, stopping:}
      @exits = Thread::Queue.new
    end

    # @return [void]
    def call
      FileUtils.mkdir_p(@dir)
      @events = File.open(File.join(@dir, "events.tsv"), "w").tap { |f| f.sync = true }
      @progress = Progress.new(@dir)
      write_settings
      Prosody::Admin.new(bootstrap_servers: @opts[:bootstrap])
                    .create_topic(@topic, partitions: @opts[:partitions], timeout: 30)
      @opts[:workers].times { spawn_worker }
      produce
      drive
      stop_all
    ensure
      @events&.close
    end

    private

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def event(kind, pid = "-", detail = "")
      @events.write("#{now}\t#{kind}\t#{pid}\t#{detail}\n")
      say("#{kind} #{pid} #{detail}".strip) unless kind == "progress"
    end

    def say(text)
      puts format("[%6.1fs] %s", now - (@t0 || now), text)
    end

    def write_settings
      settings = @opts.merge(topic: @topic, group: @topic, dir: @dir)
      File.write(File.join(@dir, "settings.tsv"), settings.map { |k, v| "#{k}\t#{v}\n" }.join)
      say("run directory #{@dir}, topic and group #{@topic}")
    end

    def base_env
      { "PROSODY_BOOTSTRAP_SERVERS" => @opts[:bootstrap],
        "PROSODY_CASSANDRA_NODES" => @opts[:cassandra],
        "PROSODY_GROUP_ID" => @topic, "PROSODY_SUBSCRIBED_TOPICS" => @topic,
        "PROSODY_MODE" => "pipeline", "PROSODY_PROBE_PORT" => "none",
        "PROSODY_MAX_UNCOMMITTED" => @opts[:max_uncommitted].to_s,
        "PROSODY_COMMIT_INTERVAL" => @opts[:commit_interval].to_s,
        "CHAOS_LOG_DIR" => @dir, "CHAOS_HANDLER_MS" => @opts[:handler_ms].to_s }
    end

    def spawn_worker
      n = @workers.size
      pid = Process.spawn(base_env, RbConfig.ruby, "-I", File.join(ROOT, "lib"),
                          File.join(ROOT, "exe", "prosody"), "-r",
                          File.join(__dir__, "handler.rb"), "ChaosHandler",
                          chdir: @dir, in: File::NULL,
                          %i[out err] => [File.join(@dir, "worker-#{n}.out"), "w"])
      @workers[pid] = { started: now }
      watch(pid, "worker")
      event("spawn", pid, "worker-#{n}")
      pid
    end

    def watch(pid, role)
      Thread.new do
        _, status = Process.wait2(pid)
        @exits << [pid, role, status, now]
      end
    end

    def produce
      # No group: a producer stamps its group id as `source-system`, and the workers would skip
      # those messages as their own.
      env = base_env.except("PROSODY_GROUP_ID", "PROSODY_SUBSCRIBED_TOPICS")
                    .merge("CHAOS_TOPIC" => @topic, "CHAOS_MESSAGES" => @opts[:messages].to_s,
                           "CHAOS_KEYS" => @opts[:keys].to_s, "CHAOS_RATE" => @opts[:rate].to_s,
                           "CHAOS_PRODUCED" => File.join(@dir, "produced.tsv"))
      @t0 = now
      @producer = Process.spawn(env, RbConfig.ruby, "-I", File.join(ROOT, "lib"),
                                File.join(__dir__, "producer.rb"),
                                chdir: @dir, in: File::NULL,
                                %i[out err] => [File.join(@dir, "producer.out"), "w"])
      watch(@producer, "producer")
      event("produce", @producer, "#{@opts[:messages]} messages at #{@opts[:rate]}/s")
    end

    # Runs the fault schedule while production goes on, then waits for the drain.
    def drive
      schedule = @opts[:schedule].sort_by(&:first)
      last_report = now
      loop do
        reap
        schedule.shift.then { |(_, action)| fault(action) } while schedule.any? && now - @t0 >= schedule.first.first
        @progress.read
        if now - last_report >= 5
          last_report = now
          event("progress", "-", @progress.summary)
          say(@progress.summary)
        end
        break if schedule.empty? && @producer_done && (@progress.drained? || drain_overdue?)

        sleep 0.2
      end
      event(@progress.drained? ? "drained" : "drain-timeout", "-", @progress.summary)
    end

    def drain_overdue?
      now - @producer_done > @opts[:drain_timeout]
    end

    def reap
      until @exits.empty?
        pid, role, status, at = @exits.pop
        if role == "producer"
          @producer_done = at
          event("produced", pid, "exit #{status.exitstatus.inspect}")
        else
          info = @workers.delete(pid)
          took = info && info[:stopping] ? format(" after %.1fs", at - info[:stopping]) : ""
          @events.write("#{at}\texit\t#{pid}\t#{status.exitstatus.inspect} #{status.termsig.inspect}#{took}\n")
          say("exit #{pid} status=#{status.exitstatus.inspect} signal=#{status.termsig.inspect}#{took}")
        end
      end
    end

    def victim(except = [])
      @workers.reject { |pid, w| w[:stopping] || except.include?(pid) }.min_by { |_, w| w[:started] }&.first
    end

    def fault(action)
      case action
      when "kill" then signal("KILL", victim, "kill")
      when "term" then signal("TERM", victim, "term")
      when "rebalance-term"
        killed = signal("KILL", victim, "kill")
        sleep PENDING_TERM_DELAY
        reap
        signal("TERM", victim([killed]), "term-pending")
      else raise ArgumentError, "unknown fault #{action.inspect}"
      end
    end

    # Signals a worker and starts its replacement at once, as a supervisor would.
    def signal(name, pid, kind)
      return say("no worker left for #{kind}") unless pid

      @workers[pid][:stopping] = now
      event(kind, pid)
      Process.kill(name, pid)
      spawn_worker
      pid
    end

    def stop_all
      deadline = now + @opts[:stop_timeout]
      @workers.each_key do |pid|
        @workers[pid][:stopping] = now
        event("stop", pid)
        Process.kill("TERM", pid)
      end
      until @workers.empty? || now > deadline
        reap
        sleep 0.1
      end
      @workers.each_key do |pid|
        event("hung", pid, "still running #{@opts[:stop_timeout]}s after TERM; killed")
        Process.kill("KILL", pid)
      end
      sleep 0.2 until @exits.size >= @workers.size
      reap
    end
  end
end
