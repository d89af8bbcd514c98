# frozen_string_literal: true

require "fileutils"
require "prosody"
require_relative "service"
require_relative "fleet"
require_relative "progress"

module Chaos
  # One chaos run: a fresh topic, a producer process, several `prosody` worker processes in one
  # group, faults on a schedule while production goes on, then a graceful stop of every worker
  # once all acknowledged messages were handled (or the drain timeout passed). What it does goes
  # to `events.tsv` in the run's directory ("mono kind pid detail"), which the verifier reads
  # with the handlers' logs.
  class Run
    # A TERM during a pending rebalance follows a SIGKILL by this long: the group then waits out
    # the killed member's session timeout (45 s by default) before it can settle.
    PENDING_TERM_DELAY = 3

    attr_reader :dir

    # @param options [Hash] see script/chaos --help
    def initialize(options)
      @opts = options
      stamp = Time.now.utc.strftime("%Y%m%d-%H%M%S")
      @dir = File.expand_path(options[:dir] || File.join(Fleet::ROOT, "tmp", "chaos", stamp))
      @topic = "chaos-#{stamp}-#{rand(36**4).to_s(36)}"
    end

    # @return [void]
    def call
      prepare
      @opts[:workers].times { @fleet.spawn_worker }
      produce
      drive
      event(@progress.drained? ? "drained" : "drain-timeout", nil, @progress.summary)
      @fleet.stop_all(@opts[:stop_timeout])
    ensure
      @events&.close
    end

    # Stops the services the run started (after verifying: the final lag is read from its
    # broker).
    def stop_services = [@broker, @cassandra].compact.each(&:stop)

    private

    def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)

    def prepare
      FileUtils.mkdir_p(@dir)
      @events = File.open(File.join(@dir, "events.tsv"), "w").tap { |f| f.sync = true }
      @progress = Progress.new(@dir)
      own_broker
      own_cassandra
      @fleet = Fleet.new(@dir, worker_env, method(:event))
      write_settings
      Prosody::Admin.new(bootstrap_servers: @opts[:bootstrap])
                    .create_topic(@topic, partitions: @opts[:partitions], timeout: 30)
    end

    # Broker faults need a Kafka of the run's own: never the shared one other tests use.
    def own_broker
      return unless (port = @opts[:own_kafka])

      @broker = Service.new("kafka", @opts[:broker_home], port, method(:event))
      say("starting the chaos broker on 127.0.0.1:#{port} (#{@opts[:broker_home]})")
      @broker.start
      @opts[:bootstrap] = "127.0.0.1:#{port}"
    end

    # Likewise for Cassandra faults; payloads then carry ids, so deduplication is in use too.
    def own_cassandra
      return unless (port = @opts[:own_cassandra])

      @cassandra = Service.new("cassandra", @opts[:broker_home], port, method(:event))
      say("starting the chaos Cassandra on 127.0.0.1:#{port} (#{@opts[:broker_home]})")
      @cassandra.start
      @opts[:cassandra] = "127.0.0.1:#{port}"
    end

    def write_settings
      settings = @opts.merge(topic: @topic, group: @topic, dir: @dir)
      File.write(File.join(@dir, "settings.tsv"), settings.map { |k, v| "#{k}\t#{v}\n" }.join)
      say("run directory #{@dir}, topic and group #{@topic}")
    end

    def event(kind, pid, detail, at = now)
      @events.write("#{at}\t#{kind}\t#{pid || "-"}\t#{detail}\n")
      say([kind, pid, detail].compact.join(" ").strip)
    end

    def say(text)
      puts format("[%<t>6.1fs] %<text>s", t: now - (@t0 || now), text:)
    end

    def connection_env
      { "PROSODY_BOOTSTRAP_SERVERS" => @opts[:bootstrap],
        "PROSODY_CASSANDRA_NODES" => @opts[:cassandra], "PROSODY_PROBE_PORT" => "none" }
    end

    def worker_env
      connection_env.merge(
        "PROSODY_GROUP_ID" => @topic, "PROSODY_SUBSCRIBED_TOPICS" => @topic,
        "PROSODY_MODE" => "pipeline", "PROSODY_MAX_UNCOMMITTED" => @opts[:max_uncommitted].to_s,
        "PROSODY_COMMIT_INTERVAL" => @opts[:commit_interval].to_s,
        "CHAOS_LOG_DIR" => @dir, "CHAOS_HANDLER_MS" => @opts[:handler_ms].to_s
      )
    end

    # The producer has no group: a producer stamps its group id as `source-system`, and the
    # workers would skip those messages as their own.
    def produce
      @t0 = now
      pid = @fleet.spawn_producer(
        connection_env.merge("CHAOS_TOPIC" => @topic, "CHAOS_MESSAGES" => @opts[:messages].to_s,
                             "CHAOS_KEYS" => @opts[:keys].to_s, "CHAOS_RATE" => @opts[:rate].to_s,
                             "CHAOS_IDS" => @cassandra ? "1" : "0",
                             "CHAOS_PRODUCED" => File.join(@dir, "produced.tsv"))
      )
      event("produce", pid, "#{@opts[:messages]} messages at #{@opts[:rate]}/s")
    end

    # Runs the fault schedule while production goes on, then waits for the drain.
    def drive
      @schedule = @opts[:schedule].sort_by(&:first)
      @last_report = now
      until finished?
        @fleet.reap
        fault(@schedule.shift.last) while due?
        @progress.read
        report if now - @last_report >= 5
        sleep 0.2
      end
    end

    def report
      event("progress", nil, @progress.summary)
      @last_report = now
    end

    def due? = @schedule.any? && now - @t0 >= @schedule.first.first

    def finished?
      @schedule.empty? && [@broker, @cassandra].compact.none?(&:busy?) && @fleet.producer_done &&
        (@progress.drained? || drain_overdue?)
    end

    def drain_overdue? = now - @fleet.producer_done > @opts[:drain_timeout]

    def fault(action)
      case action
      when "kill" then replace("KILL", @fleet.victim, "kill")
      when "term" then replace("TERM", @fleet.victim, "term")
      when "rebalance-term"
        killed = replace("KILL", @fleet.victim, "kill")
        sleep PENDING_TERM_DELAY
        replace("TERM", @fleet.victim([killed]), "term-pending")
      else service_fault(action)
      end
    end

    # Faults on a service of the run's own: which one, the signal, and how long it stays down.
    SERVICE_FAULTS = { "broker-term" => [:@broker, "TERM", :broker_down],
                       "broker-kill" => [:@broker, "KILL", :broker_down],
                       "cassandra-stop" => [:@cassandra, "TERM", :cassandra_down] }.freeze

    def service_fault(action)
      service, signal, down = SERVICE_FAULTS.fetch(action) do
        raise ArgumentError, "unknown fault #{action.inspect} in --schedule"
      end
      instance_variable_get(service).fault(signal, action, @opts[down])
    end

    # Signals a worker and starts its replacement at once, as a supervisor would.
    def replace(signal, pid, kind)
      return say("no worker left for #{kind}") unless pid

      @fleet.signal(signal, pid, kind)
      @fleet.spawn_worker
      pid
    end
  end
end
