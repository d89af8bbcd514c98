# frozen_string_literal: true

module Chaos
  # The timers of a run: what completed handlers scheduled (a message's payload carries its
  # `due` time) against what `on_timer` ran. The README promises at least once, never early.
  class Timers
    # @param records [Records]
    def initialize(records)
      @scheduled = records.runs.filter_map { |run| "#{run.key}\t#{run.due}" if run.due }.uniq
      @runs = records.timer_runs
      @fired = @runs.group_by(&:id)
    end

    def scheduled = @scheduled.size
    def fired = @fired.size
    def runs = @runs.size
    def missing = @scheduled.reject { |id| @fired.key?(id) }
    def early = @runs.count { |t| t.fired < t.time }

    # @return [String]
    def summary
      "#{scheduled} scheduled, #{fired} fired (#{runs} runs), #{missing.size} never fired, " \
        "#{early} early"
    end

    # @return [String, nil] how late timers ran, from their time to their run's start
    def lateness
      late = @runs.map { |t| t.fired - t.time }.sort
      return if late.empty?

      format("median %<p50>.2fs, p99 %<p99>.2fs, max %<max>.2fs",
             p50: late[late.size / 2], p99: late[(late.size * 0.99).floor], max: late.last)
    end
  end
end
