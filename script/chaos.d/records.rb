# frozen_string_literal: true

require "open3"

module Chaos
  # What a chaos run left in its directory, parsed: the settings, the acknowledged sends, every
  # handler run, the orchestrator's events and (read from Kafka on demand) the group's final
  # committed offsets against each partition's end.
  class Records
    # One handler run, from a line of a handled-PID.log.
    # rubocop:disable Lint/StructNewOverride -- `partition` is the log's own field name
    Run = Struct.new(:pid, :key, :seq, :partition, :offset, :start, :finish, :due) do
      def id = "#{key}\t#{seq}"
    end
    # One `on_timer` run, from a line of a timers-PID.log; `time` is what it was scheduled for
    # (epoch seconds), `fired` the wall-clock time its run began.
    TimerRun = Struct.new(:pid, :key, :time, :start, :finish, :fired) do
      def id = "#{key}\t#{time}"
    end
    # rubocop:enable Lint/StructNewOverride
    # One line of events.tsv.
    Event = Struct.new(:at, :kind, :pid, :detail)
    # A signal a worker received: kill, term, term-pending (a TERM while the group waits out a
    # killed member) or stop (the TERM that ends the run).
    FAULT_KINDS = %w[kill term term-pending stop].freeze
    # A service stopped (TERM) or killed, then started again, by the prefix of its events:
    # see {#outages}.
    OUTAGE_KINDS = { "broker" => %w[broker-term broker-kill],
                     "cassandra" => %w[cassandra-stop] }.freeze
    # One service fault: when it was signalled, when the process was gone, when script/services
    # started it again and when it answered (nil for the steps a run's end cut short).
    Outage = Struct.new(:kind, :at, :down, :start, :up) do
      def restarted_after = start && (start - at)
      def healthy_after = up && start && (up - start)
      # When the service answered again, or (a run cut short) forever.
      def end = up || Float::INFINITY
      def pid = nil
    end

    attr_reader :settings, :acked, :nacked, :runs, :first_runs, :timer_runs, :events, :faults,
                :lag_error

    # @param dir [String] the run's directory
    # @param lag [Array, nil] the final offsets, when they are known without asking Kafka
    def initialize(dir, lag: nil)
      @dir = dir
      @lag = lag if lag
    end

    # @return [void]
    def load
      @settings = File.readlines(path("settings.tsv"), chomp: true).to_h { |l| l.split("\t", 2) }
      load_produced
      load_runs
      load_timer_runs
      load_events
    end

    def pids = @runs.map(&:pid).uniq
    def max_uncommitted = Integer(@settings.fetch("max_uncommitted"))
    def commit_interval = Float(@settings.fetch("commit_interval"))

    # @return [Array<(Integer, Integer, Integer)>, nil] partition, committed (-1: none), end
    def lag
      @lag = fetch_lag unless defined?(@lag)
      @lag
    end

    private

    def fetch_lag
      out, err, status = Open3.capture3(*group_lag_command)
      File.write(path("lag.txt"), out)
      @lag_error = err.lines.find { |l| l.include?("Exception") }&.strip || "GroupLag failed"
      status.success? ? out.lines.map { |l| l.split.map { |v| Integer(v) } } : nil
    end

    def path(name) = File.join(@dir, name)

    # A short-lived JVM starts faster with C1 only and the serial collector.
    def group_lag_command
      ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", kafka_lib,
       File.join(__dir__, "GroupLag.java"), *@settings.values_at("bootstrap", "group", "topic")]
    end

    # Kafka's own jars, where script/services keeps them.
    def kafka_lib
      home = ENV.fetch("PROSODY_SERVICES_HOME", File.join(Dir.home, ".cache", "prosody-services"))
      File.join(home, "kafka", "lib", "*")
    end

    def load_produced
      @acked = {}
      @nacked = 0
      File.foreach(path("produced.tsv"), chomp: true) do |line|
        next @nacked += 1 if line.start_with?("nack")

        @acked[line.split("\t", 3).first(2).join("\t")] = true
      end
    end

    def load_runs
      @runs = log_lines("handled-*.log").map do |f|
        Run.new(*f.first(7).each_with_index.map { |v, i| RUN_TYPES[i].call(v) }, due(f[9]))
      end
      @first_runs = {}
      @runs.sort_by(&:start).each { |run| @first_runs[run.id] ||= run }
    end

    RUN_TYPES = [method(:Integer), :itself.to_proc, method(:Integer), method(:Integer),
                 method(:Integer), method(:Float), method(:Float)].freeze
    TIMER_TYPES = [method(:Integer), :itself.to_proc, method(:Integer), method(:Float),
                   method(:Float), method(:Float)].freeze

    def due(field) = field && field != "-" ? Integer(field) : nil

    def load_timer_runs
      @timer_runs = log_lines("timers-*.log").map do |f|
        TimerRun.new(*f.first(6).each_with_index.map { |v, i| TIMER_TYPES[i].call(v) })
      end
    end

    # The tab-separated fields of every whole line of the matching logs. A SIGKILL can cut the
    # last line short: that run never finished as far as the log knows.
    def log_lines(glob)
      Dir[path(glob)].flat_map do |file|
        whole = File.foreach(file).select { |line| line.end_with?("\n") }
        whole.map { |line| line.chomp.split("\t") }
      end
    end

    def load_events
      @events = File.readlines(path("events.tsv"), chomp: true).map do |l|
        at, kind, pid, detail = l.split("\t", 4)
        Event.new(Float(at), kind, pid == "-" ? nil : Integer(pid), detail.to_s)
      end
      @faults = @events.select { |e| FAULT_KINDS.include?(e.kind) }
    end

    public

    # @return [Array<Outage>] the broker's outages
    def broker_outages = outages("broker")

    # @param prefix [String, nil] "broker" or "cassandra"; nil for both
    # @return [Array<Outage>]
    def outages(prefix = nil)
      return OUTAGE_KINDS.keys.flat_map { |p| outages(p) }.sort_by(&:at) unless prefix

      steps = %w[down start up].to_h { |step| ["#{prefix}-#{step}", step.to_sym] }
      @events.each_with_object([]) { |e, found| note_outage(found, e, prefix, steps) }
    end

    private

    def note_outage(found, event, prefix, steps)
      return found << Outage.new(event.kind, event.at) if OUTAGE_KINDS[prefix].include?(event.kind)

      found.last[steps[event.kind]] = event.at if found.any? && steps.key?(event.kind)
    end
  end
end
