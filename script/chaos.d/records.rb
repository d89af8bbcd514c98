# frozen_string_literal: true

require "open3"

module Chaos
  # What a chaos run left in its directory, parsed: the settings, the acknowledged sends, every
  # handler run, the orchestrator's events and (read from Kafka on demand) the group's final
  # committed offsets against each partition's end.
  class Records
    # One handler run, from a line of a handled-PID.log.
    Run = Struct.new(:pid, :key, :seq, :partition, :offset, :start, :finish) do
      def id = "#{key}\t#{seq}"
    end
    # One line of events.tsv.
    Event = Struct.new(:at, :kind, :pid, :detail)
    # A signal a worker received: kill, term, term-pending (a TERM while the group waits out a
    # killed member) or stop (the TERM that ends the run).
    Fault = Struct.new(:kind, :pid, :at)
    FAULT_KINDS = %w[kill term term-pending stop].freeze

    attr_reader :settings, :acked, :nacked, :runs, :first_runs, :events, :faults, :lag_error

    def initialize(dir)
      @dir = dir
    end

    # @return [void]
    def load
      @settings = File.readlines(path("settings.tsv"), chomp: true).to_h { |l| l.split("\t", 2) }
      load_produced
      load_runs
      @events = File.readlines(path("events.tsv"), chomp: true).map do |l|
        at, kind, pid, detail = l.split("\t", 4)
        Event.new(Float(at), kind, pid == "-" ? nil : Integer(pid), detail.to_s)
      end
      @faults = @events.select { |e| FAULT_KINDS.include?(e.kind) }.map { |e| Fault.new(e.kind, e.pid, e.at) }
    end

    def pids = @runs.map(&:pid).uniq
    def max_uncommitted = Integer(@settings.fetch("max_uncommitted"))
    def commit_interval = Float(@settings.fetch("commit_interval"))

    # @return [Array<(Integer, Integer, Integer)>, nil] partition, committed (-1: none), end
    def lag
      @lag ||= begin
        lib = File.join(ENV.fetch("PROSODY_SERVICES_HOME", File.join(Dir.home, ".cache/prosody-services")),
                        "kafka", "lib", "*")
        out, err, status = Open3.capture3("java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                                          "-cp", lib, File.join(__dir__, "GroupLag.java"),
                                          @settings.fetch("bootstrap"), @settings.fetch("group"),
                                          @settings.fetch("topic"))
        File.write(path("lag.txt"), out)
        if status.success?
          out.lines.map { |l| l.split.map { |v| Integer(v) } }
        else
          @lag_error = err.lines.find { |l| l.include?("Exception") }&.strip || "GroupLag failed"
          nil
        end
      end
    end

    private

    def path(name) = File.join(@dir, name)

    def load_produced
      @acked = {}
      @nacked = 0
      File.foreach(path("produced.tsv"), chomp: true) do |line|
        next @nacked += 1 if line.start_with?("nack")

        key, seq = line.split("\t", 3)
        @acked["#{key}\t#{seq}"] = true
      end
    end

    def load_runs
      @runs = []
      Dir[path("handled-*.log")].each do |file|
        File.foreach(file) do |line|
          # A SIGKILL can cut a line short; its run never finished writing, so it never ran to
          # the end as far as the log knows.
          next unless line.end_with?("\n")

          f = line.split("\t")
          @runs << Run.new(Integer(f[0]), f[1], Integer(f[2]), Integer(f[3]), Integer(f[4]),
                           Float(f[5]), Float(f[6]))
        end
      end
      @first_runs = {}
      @runs.sort_by(&:start).each { |run| @first_runs[run.id] ||= run }
    end
  end
end
