# frozen_string_literal: true

require_relative "records"

module Chaos
  # Checks a finished chaos run from its logs and prints the figures. Every check that fails is
  # named in the summary, and {#call} returns false when any did.
  #
  # Duplicate bounds (README, "How often a message is handled twice"): a graceful stop, a
  # rebalance and a process that keeps its partitions redeliver nothing that completed; a
  # SIGKILL redelivers at most `max_uncommitted` messages plus what the killed process completed
  # in its last `commit_interval` (commits are periodic), counted here from its own log with one
  # second of slack for the commit's round trip.
  class Verify
    GRACEFUL = %w[term term-pending stop].freeze

    def initialize(dir, out: $stdout)
      @r = Records.new(dir)
      @out = out
      @failures = []
    end

    # @return [Boolean] whether every check passed
    def call
      @r.load
      figures
      check_lost
      check_order
      check_overlap
      check_duplicates
      check_lag
      check_processes
      recovery
      line("result", @failures.empty? ? "PASS" : "FAIL: #{@failures.join("; ")}")
      @failures.empty?
    end

    private

    def line(label, value) = @out.puts(format("%-34s %s", label, value))

    def fail!(text) = @failures << text

    def figures
      line("messages acknowledged", @r.acked.size)
      line("sends not acknowledged", @r.nacked)
      line("handler runs logged", @r.runs.size)
      line("distinct messages handled", @r.first_runs.size)
      line("worker processes", @r.pids.size)
      fail!("no message was acknowledged (see producer.out)") if @r.acked.empty?
    end

    def check_lost
      lost = @r.acked.keys.reject { |id| @r.first_runs.key?(id) }
      line("lost (acknowledged, never handled)", lost.size)
      lost.first(5).each { |id| line("  lost", id.tr("\t", " ")) }
      fail!("#{lost.size} acknowledged messages never handled") unless lost.empty?
    end

    # Within one process, a key's runs go up in offset, except that a partition taken back
    # after a revocation starts again from its committed offset: a step back is only a
    # violation when the message stepped back to had never been handled before.
    def check_order
      local = 0
      @r.runs.group_by { |run| [run.pid, run.key] }.each_value do |runs|
        runs.sort_by(&:start).each_cons(2) do |a, b|
          next unless b.offset < a.offset

          first = @r.first_runs[b.id]
          local += 1 if first.equal?(b)
        end
      end
      # Across processes: a key's messages are first handled in offset order.
      global = 0
      @r.first_runs.values.group_by(&:key).each_value do |runs|
        runs.sort_by(&:offset).each_cons(2) { |a, b| global += 1 if b.start < a.start }
      end
      line("order violations (per process)", local)
      line("order violations (first runs)", global)
      fail!("#{local + global} per-key order violations") if (local + global).positive?
    end

    def check_overlap
      overlaps = 0
      @r.runs.group_by(&:key).each_value do |runs|
        latest_end = -Float::INFINITY
        runs.sort_by(&:start).each do |run|
          overlaps += 1 if run.start < latest_end
          latest_end = [latest_end, run.finish].max
        end
      end
      line("same-key overlaps", overlaps)
      fail!("#{overlaps} same-key overlapping runs") if overlaps.positive?
    end

    def check_duplicates
      by_cause = Hash.new(0)
      by_fault = Hash.new(0)
      @r.runs.group_by(&:id).each_value do |runs|
        runs.sort_by(&:start).each_cons(2) do |prev, run|
          cause, fault = cause_of(prev, run)
          by_cause[cause] += 1
          by_fault[fault] += 1 if fault
        end
      end
      line("duplicates", by_cause.values.sum)
      by_cause.sort.each { |cause, n| line("  #{cause}", n) }
      @r.faults.each { |fault| compare_bound(fault, by_fault[fault]) }
      %w[rebalance same-process].each do |cause|
        fail!("#{by_cause[cause]} duplicates by #{cause} (bound 0)") if by_cause[cause].positive?
      end
    end

    def cause_of(prev, run)
      return ["same-process"] if prev.pid == run.pid

      fault = @r.faults.find { |f| f.pid == prev.pid && f.at <= run.start }
      fault ? ["after #{fault.kind}", fault] : ["rebalance"]
    end

    def compare_bound(fault, count)
      bound = bound_for(fault)
      ok = count <= bound
      line("  #{fault.kind} #{fault.pid}", "#{count} redelivered (bound #{bound})#{ok ? "" : " OVER"}")
      fail!("#{fault.kind} of #{fault.pid} redelivered #{count} > #{bound}") unless ok
    end

    def bound_for(fault)
      return 0 if GRACEFUL.include?(fault.kind)

      window = @r.commit_interval + 1
      @r.max_uncommitted + @r.runs.count do |run|
        run.pid == fault.pid && run.finish > fault.at - window && run.finish <= fault.at
      end
    end

    def check_lag
      lag = @r.lag
      return fail!("final lag unknown: #{@r.lag_error}") unless lag

      total = lag.sum { |_, committed, high| committed.negative? ? high : high - committed }
      line("final lag", "#{total} (#{lag.map { |p, c, h| "#{p}:#{c}/#{h}" }.join(" ")})")
      fail!("final lag #{total}") unless total.zero?
    end

    def check_processes
      @r.events.select { |e| e.kind == "hung" }.each { |e| fail!("worker #{e.pid} hung on TERM") }
      fail!("drain timed out") if @r.events.any? { |e| e.kind == "drain-timeout" }
      @r.events.select { |e| e.kind == "exit" }.each do |e|
        fault = @r.faults.find { |f| f.pid == e.pid }
        stop = fault&.kind != "kill"
        line("  unsubscribe #{fault.kind} #{e.pid}", e.detail) if fault && stop && GRACEFUL.include?(fault.kind)
        fail!("worker #{e.pid} exited #{e.detail.split.first(2).join(" ")}") if stop && !e.detail.start_with?("0 ")
      end
    end

    # How long the partitions a faulted process was working on sat idle: from the fault to the
    # first run of each of them in another process.
    def recovery
      @r.faults.reject { |f| f.kind == "stop" }.each do |fault|
        recent = @r.runs.select { |r| r.pid == fault.pid && r.finish > fault.at - 3 && r.finish <= fault.at }
        gaps = recent.map(&:partition).uniq.filter_map do |partition|
          nxt = @r.runs.select { |r| r.partition == partition && r.pid != fault.pid && r.start > fault.at }
                       .min_by(&:start)
          nxt && nxt.start - fault.at
        end
        value = gaps.empty? ? "n/a (no later runs)" : format("%.1fs max, %.1fs min over %d partitions", gaps.max, gaps.min, gaps.size)
        line("recovery after #{fault.kind} #{fault.pid}", value)
      end
    end
  end
end
