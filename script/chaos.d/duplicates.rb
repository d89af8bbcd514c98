# frozen_string_literal: true

module Chaos
  # Counts messages handled more than once and blames each extra run on what happened to the
  # process that ran the message before it, then holds each fault to its bound.
  #
  # The bounds are the README's ("How often a message is handled twice"): a graceful stop (a
  # TERM, during a pending rebalance or not), a rebalance, a broker restart and a process
  # that keeps its partitions redeliver nothing that completed; a SIGKILL redelivers at most
  # `max_uncommitted` messages plus what the killed process completed in its last
  # `commit_interval` (commits are periodic), counted from its own log with one second of
  # slack for the commit's round trip.
  class Duplicates
    GRACEFUL = %w[term term-pending stop].freeze

    # @return [Hash{String => Integer}] extra runs by cause
    attr_reader :by_cause

    # @param records [Records]
    def initialize(records)
      @r = records
      @by_cause = Hash.new(0)
      @by_fault = Hash.new(0)
      @r.runs.group_by(&:id).each_value do |runs|
        runs.sort_by(&:start).each_cons(2) { |prev, run| blame(prev, run) }
      end
    end

    def total = @by_cause.values.sum

    # @return [Array<(Records::Event, Integer, Integer)>] each fault, its redeliveries, its bound
    def per_fault
      @r.faults.map { |fault| [fault, @by_fault[fault], bound(fault)] }
    end

    # Causes whose bound is 0 whatever happened.
    UNBOUNDED = (%w[rebalance same-process] +
                 Records::BROKER_KINDS.map { |kind| "after #{kind}" }).freeze

    # @return [Array<String>] what exceeded its bound
    def failures
      over = per_fault.select { |_, count, limit| count > limit }.map do |fault, count, limit|
        "#{fault.kind} of #{fault.pid} redelivered #{count} > #{limit}"
      end
      over + UNBOUNDED.select { |c| @by_cause[c].positive? }.map do |cause|
        "#{@by_cause[cause]} duplicates (#{cause}, bound 0)"
      end
    end

    private

    def blame(prev, run)
      return @by_cause["same-process"] += 1 if prev.pid == run.pid

      fault = @r.faults.find { |f| f.pid == prev.pid && f.at <= run.start }
      @by_fault[fault] += 1 if fault
      @by_cause[fault ? "after #{fault.kind}" : outage_before(run) || "rebalance"] += 1
    end

    # A broker that restarts may make the group rebalance: a run within a minute of one coming
    # back is blamed on it.
    def outage_before(run)
      outage = @r.broker_outages.find { |o| o.at <= run.start && run.start <= (o.up || o.at) + 60 }
      outage && "after #{outage.kind}"
    end

    def bound(fault)
      return 0 if GRACEFUL.include?(fault.kind)

      window = @r.commit_interval + 1
      @r.max_uncommitted + @r.runs.count do |run|
        run.pid == fault.pid && run.finish > fault.at - window && run.finish <= fault.at
      end
    end
  end
end
