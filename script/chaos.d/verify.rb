# frozen_string_literal: true

require_relative "records"
require_relative "duplicates"
require_relative "timers"

module Chaos
  # Checks a finished chaos run from its logs and prints the figures. Every check that fails is
  # named on the last line, and {#call} returns false when any did.
  class Verify
    # @param dir [String] the run's directory
    # @param out [IO] where the figures go
    # @param lag [Array, nil] see {Records#initialize}
    def initialize(dir, out: $stdout, lag: nil)
      @r = Records.new(dir, lag:)
      @out = out
      @failures = []
    end

    # @return [Boolean] whether every check passed
    def call
      @r.load
      steps = %i[figures lost order overlap timers duplicates lag processes recovery
                 service_recovery]
      steps.each { |step| send(step) }
      line("result", @failures.empty? ? "PASS" : "FAIL: #{@failures.join("; ")}")
      @failures.empty?
    end

    private

    def line(label, value) = @out.puts(format("%-36<label>s %<value>s", label:, value:))

    def check(failed, text) = (@failures << text if failed)

    def figures
      line("messages acknowledged", @r.acked.size)
      line("sends not acknowledged", @r.nacked)
      line("handler runs logged", @r.runs.size)
      line("distinct messages handled", @r.first_runs.size)
      line("worker processes", @r.pids.size)
      check(@r.acked.empty?, "no message was acknowledged (see producer.out)")
    end

    def lost
      lost = @r.acked.keys.reject { |id| @r.first_runs.key?(id) }
      line("lost (acknowledged, never handled)", lost.size)
      lost.first(5).each { |id| line("  for example", id.tr("\t", " ")) }
      check(lost.any?, "#{lost.size} acknowledged messages never handled")
    end

    def order
      local = local_order_violations
      global = first_run_order_violations
      line("order violations (per process)", local)
      line("order violations (first runs)", global)
      check((local + global).positive?, "#{local + global} per-key order violations")
    end

    # Within one process a key's runs go up in offset, except that a partition taken back after
    # a revocation starts again from its committed offset: a step back is a violation only when
    # it lands on a message nobody had handled before.
    def local_order_violations
      @r.runs.group_by { |run| [run.pid, run.key] }.each_value.sum do |runs|
        runs.sort_by(&:start).each_cons(2).count do |a, b|
          b.offset < a.offset && @r.first_runs[b.id].equal?(b)
        end
      end
    end

    # Across processes, a key's messages are first handled in offset order.
    def first_run_order_violations
      @r.first_runs.values.group_by(&:key).each_value.sum do |runs|
        runs.sort_by(&:offset).each_cons(2).count { |a, b| b.start < a.start }
      end
    end

    # A key's messages and timers run one at a time.
    def overlap
      overlaps = (@r.runs + @r.timer_runs).group_by(&:key).each_value.sum { |runs| overlaps(runs) }
      line("same-key overlaps", overlaps)
      check(overlaps.positive?, "#{overlaps} same-key overlapping runs")
    end

    # Every timer a completed handler scheduled fired at least once, and none before its time.
    def timers
      t = Timers.new(@r)
      missing = t.missing.size
      line("timers", t.summary)
      line("timer lateness", t.lateness) if t.lateness
      check(missing.positive?, "#{missing} scheduled timers never fired")
      check(t.early.positive?, "#{t.early} timers fired before their time")
    end

    def overlaps(runs)
      latest_end = -Float::INFINITY
      runs.sort_by(&:start).count do |run|
        (run.start < latest_end).tap { latest_end = [latest_end, run.finish].max }
      end
    end

    def duplicates
      dups = Duplicates.new(@r)
      line("duplicates", dups.total)
      dups.by_cause.sort.each { |cause, n| line("  #{cause}", n) }
      dups.per_fault.each do |fault, count, limit|
        line("  #{fault.kind} #{fault.pid}",
             "#{count} redelivered (bound #{limit})#{" OVER" if count > limit}")
      end
      @failures.concat(dups.failures)
    end

    def lag
      lag = @r.lag
      return check(true, "final lag unknown: #{@r.lag_error}") unless lag

      total = lag.sum { |_, committed, high| high - [committed, 0].max }
      parts = lag.map { |partition, committed, high| "#{partition}:#{committed}/#{high}" }
      line("final lag", "#{total} (partition:committed/end #{parts.join(" ")})")
      check(!total.zero?, "final lag #{total}")
    end

    # Every TERMed worker exits 0 (how long it took is shown), and none hangs.
    def processes
      kinds = @r.events.group_by(&:kind)
      kinds.fetch("hung", []).each { |e| check(true, "worker #{e.pid} hung on TERM") }
      check(kinds.key?("drain-timeout"), "the drain timed out")
      kinds.fetch("exit", []).each { |e| stopped(e) }
    end

    def stopped(exit)
      fault = @r.faults.find { |f| f.pid == exit.pid }
      return if fault.nil? || fault.kind == "kill"

      line("  exit after #{fault.kind} #{exit.pid}", exit.detail)
      check(!exit.detail.start_with?("0 "), "worker #{exit.pid} exited #{exit.detail}")
    end

    # How long the partitions a faulted worker was busy with sat idle: from the fault to each
    # one's next run in another process.
    def recovery
      @r.faults.reject { |f| f.kind == "stop" }.each do |fault|
        gaps = idle_partitions(fault)
        line("recovery after #{fault.kind} #{fault.pid}",
             gaps.empty? ? "n/a (no later runs)" : gaps_text(gaps))
      end
    end

    # How long a broker or Cassandra stayed away, and how soon handlers ran again once it was
    # started.
    def service_recovery
      @r.outages.each do |o|
        line("recovery after #{o.kind}",
             "restarted #{secs(o.restarted_after)} after the signal, healthy " \
             "#{secs(o.healthy_after)} later, handlers ran #{secs(resumed(o))} after the restart")
      end
    end

    def resumed(outage)
      return unless outage.start

      first = @r.runs.map(&:start).select { |start| start > outage.start }.min
      first && (first - outage.start)
    end

    def secs(value) = value ? format("%.1fs", value) : "n/a"

    def gaps_text(gaps)
      format("%<max>.1fs max, %<min>.1fs min over %<n>d partitions",
             max: gaps.max, min: gaps.min, n: gaps.size)
    end

    # The partitions the worker finished a run on in its last 3 s, each with the time from the
    # fault to its first later run in another process.
    def idle_partitions(fault)
      mine = @r.runs.select { |r| r.pid == fault.pid && r.finish.between?(fault.at - 3, fault.at) }
      mine.map(&:partition).uniq.filter_map do |partition|
        next_run_elsewhere(partition, fault)&.-(fault.at)
      end
    end

    def next_run_elsewhere(partition, fault)
      later = @r.runs.select { |r| r.partition == partition && r.pid != fault.pid }
      later.map(&:start).select { |start| start > fault.at }.min
    end
  end
end
